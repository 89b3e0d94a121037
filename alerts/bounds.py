"""The bounds of the numbers a user sets for their alerts: the form's validators and the database's constraints."""

from decimal import Decimal

# A drawdown alert threshold, in percent below a bot's peak equity: above 0 and below 100 (or none).
DRAWDOWN_MIN = Decimal("0")
DRAWDOWN_MAX = Decimal("100")
