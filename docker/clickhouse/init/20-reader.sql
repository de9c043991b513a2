-- Generated from gateway/demo_data.py by `python -m gateway.demo_data --write-docker docker`
-- (tests/test_compose.py checks it is current): edit that, not this file.
CREATE USER IF NOT EXISTS metahog_reader IDENTIFIED WITH sha256_password BY 'metahog-reader-pw';
GRANT SELECT ON posthog.* TO metahog_reader;
