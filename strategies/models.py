from django.db import models
from django_cryptography.fields import encrypt


class Strategy(models.Model):
    """A trading model that publishes one signed signal per market per candle."""

    name = models.CharField(max_length=80, unique=True)
    kind = models.CharField(max_length=40, help_text="Key of the strategy class in the registry.")
    description = models.TextField(blank=True)
    params = models.JSONField(default=dict, blank=True)
    timeframe = models.CharField(max_length=8, default="4h")
    exchange = models.CharField(max_length=20, default="paper", help_text="Where its market data comes from.")
    markets = models.JSONField(default=list, help_text='Symbols such as "BTC/USDT".')
    active = models.BooleanField(default=True)
    # Ed25519 key pair that signs every signal; the private half is encrypted.
    public_key = models.CharField(max_length=64, blank=True, help_text="Raw Ed25519 public key, hex.")
    private_key = encrypt(models.TextField(blank=True, default=""))
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "strategies"

    def __str__(self):
        return self.name
