"""Settings for benchmark servers: the app's own, plus the comparison endpoints of bench/urls.py."""

from pointsite.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
