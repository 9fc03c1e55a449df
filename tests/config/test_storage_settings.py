"""storage.backend and storage.s3.*: defaults, environment, one-line refusals, and no place
for a credential."""

from __future__ import annotations

import pytest

from vignette.config import ConfigError, load_settings


def test_the_local_backend_is_the_default_and_s3_keys_are_empty() -> None:
    storage = load_settings(env={}).storage

    assert storage.backend == "local"
    assert (storage.s3.endpoint_url, storage.s3.bucket, storage.s3.prefix) == ("", "", "")
    assert (storage.s3.region, storage.s3.redirect) == ("", False)


def test_nested_environment_variables_set_the_s3_keys() -> None:
    env = {
        "VIGNETTE_STORAGE__BACKEND": "s3",
        "VIGNETTE_STORAGE__S3__ENDPOINT_URL": "http://127.0.0.1:8333",
        "VIGNETTE_STORAGE__S3__BUCKET": "vignette-files",
        "VIGNETTE_STORAGE__S3__PREFIX": "portraits",
        "VIGNETTE_STORAGE__S3__REGION": "eu-west-1",
        "VIGNETTE_STORAGE__S3__REDIRECT": "yes",
    }

    s3 = load_settings(env=env).storage.s3

    assert s3.endpoint_url == "http://127.0.0.1:8333"
    assert (s3.bucket, s3.prefix, s3.region, s3.redirect) == (
        "vignette-files",
        "portraits",
        "eu-west-1",
        True,
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"VIGNETTE_STORAGE__BACKEND": "s3"}, "storage.s3.bucket = '' is not allowed"),
        ({"VIGNETTE_STORAGE__BACKEND": "gcs"}, "storage.backend = 'gcs' is not allowed: one of"),
        ({"VIGNETTE_STORAGE__S3__BUCKET": "Bad_Name"}, "storage.s3.bucket = 'Bad_Name'"),
        ({"VIGNETTE_STORAGE__S3__ENDPOINT_URL": "ftp://x"}, "storage.s3.endpoint_url = 'ftp"),
        ({"VIGNETTE_STORAGE__S3__PREFIX": "/abs"}, "storage.s3.prefix = '/abs'"),
        ({"VIGNETTE_STORAGE__S3__REDIRECT": "maybe"}, "storage.s3.redirect = 'maybe'"),
    ],
)
def test_a_bad_storage_value_is_refused_in_one_line(env: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env=env)

    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


def test_credentials_have_no_key_in_the_settings() -> None:
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

    with pytest.raises(ConfigError) as caught:
        load_settings(env={"VIGNETTE_STORAGE__S3__SECRET_ACCESS_KEY": secret})

    assert "unknown key storage.s3.secret_access_key" in str(caught.value)
    assert secret not in str(caught.value)
