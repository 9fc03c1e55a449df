from django.apps import AppConfig


class PortraitsConfig(AppConfig):
    name = "portraits"

    def ready(self) -> None:
        import vignette

        vignette.use_stdlib_logging()  # into Django's LOGGING, under `vignette`
