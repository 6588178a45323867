"""URLs with credentials are redacted; others are left alone."""

from cnnlstm.core.redact import redact_text, redact_url


def test_the_password_of_a_database_url_is_replaced():
    url = "postgresql+psycopg://book:s3cret-pw@127.0.0.1:5432/book"
    assert redact_url(url) == "postgresql+psycopg://book:***@127.0.0.1:5432/book"
    assert redact_url("http://admin:pa:ss@mlflow:5000") == "http://admin:***@mlflow:5000"


def test_urls_without_a_password_and_plain_text_are_unchanged():
    for text in ("sqlite:////data/book.sqlite", "http://127.0.0.1:5000", "no url here", None):
        assert redact_url(text) == text


def test_every_url_in_a_message_is_redacted():
    text = "cannot reach http://u:p1@a/x nor postgresql://v:p2@b/y"
    assert redact_text(text) == "cannot reach http://u:***@a/x nor postgresql://v:***@b/y"
