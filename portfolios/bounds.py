"""The bounds of every number and date a bot's form and a report take.

The forms' validators, the services' rules and the database's constraints all
read them here.
"""

from datetime import date, timedelta
from decimal import Decimal

# A bot's allocation and its position cap per market, in the quote asset: from the smallest step an amount
# is stored in up to a trillion.
AMOUNT_MIN = Decimal("0.00000001")
AMOUNT_MAX = Decimal("1000000000000")
# A report's period: from the year trading in crypto began up to tomorrow (in the portal's time zone).
REPORT_EARLIEST = date(2009, 1, 1)
REPORT_AHEAD = timedelta(days=1)
