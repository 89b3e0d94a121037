from django.apps import AppConfig


class PortfoliosConfig(AppConfig):
    name = "portfolios"
    verbose_name = "Bots and portfolios"

    def ready(self):
        from keys.services import key_disabled
        from portfolios import services, tasks  # noqa: F401  (tasks connects the worker-start recovery)
        from strategies.services import signals_issued

        # The layers below tell what happened; the bots' layer decides what its bots do.
        key_disabled.connect(services.key_disabled_received, dispatch_uid="portfolios.bots_pause_for_key")
        signals_issued.connect(services.signals_issued_received, dispatch_uid="portfolios.signals_fan_out")
