"""The venues' REST dialects: venue name -> dialect (a ``dialects.base.Dialect``). See README.md here.

Every venue of the paper exchange has its dialect: Binance at the root,
Binance.US, Kraken, Bitvavo and One Trading under ``/<venue>``.
"""

from . import binance, binanceus, bitvavo, kraken, onetrading

DIALECTS = {
    "binance": binance.DIALECT,
    "binanceus": binanceus.DIALECT,
    "kraken": kraken.DIALECT,
    "bitvavo": bitvavo.DIALECT,
    "onetrading": onetrading.DIALECT,
}
