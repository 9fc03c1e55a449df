"""Settings of the example Django project that embeds Vignette (no database of its own)."""

from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "example-project-only-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]

INSTALLED_APPS = ["portraits"]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
]
ROOT_URLCONF = "mysite.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {},
    }
]
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True

# Vignette's records arrive through `vignette.use_stdlib_logging()` (portraits/apps.py),
# with story_id and step on each record.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "vignette": {
            "format": "%(levelname)s %(name)s story=%(story_id)s step=%(step)s %(message)s"
        }
    },
    "handlers": {"vignette": {"class": "logging.StreamHandler", "formatter": "vignette"}},
    "loggers": {"vignette": {"handlers": ["vignette"], "level": "INFO", "propagate": False}},
}

# Where Vignette keeps its database and files: relative paths are made absolute against it.
VIGNETTE_BASE_DIR = BASE_DIR
