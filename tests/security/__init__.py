"""The security sweep (issue 9), as an attacker would try the product:

- test_idor: every id-taking URL, walked from the URL configuration: another user's id is a 404;
- test_no_secret_anywhere: a whole flow at DEBUG, then logs, emails, database dump, portal and admin pages;
- test_totp_seed_at_rest: the authenticator seed is encrypted in the database;
- test_arbitrary_input: every form and the Telegram command parser with hypothesis-generated input;
- test_csrf: a POST without a token is refused by every view.

Elsewhere: `check --deploy` and secure cookies in tests/oneclick/test_settings.py; login and one-time
code attempts rate-limited in tests/oneclick/test_accounts.py::test_login_is_rate_limited_after_repeated_failures
and tests/oneclick/test_two_factor.py::test_wrong_codes_are_rate_limited.
"""
