from django.apps import AppConfig


class PortfoliosConfig(AppConfig):
    name = "portfolios"
    verbose_name = "Bots and portfolios"

    def ready(self):
        from portfolios import tasks  # noqa: F401  (connects the worker-start recovery)
