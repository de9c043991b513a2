-- Generated from gateway/demo_data.py by `python -m gateway.demo_data --write-docker docker`
-- (tests/test_compose.py checks it is current): edit that, not this file.
CREATE ROLE metahog_reader LOGIN PASSWORD 'metahog-reader-pw';
CREATE ROLE metahog_catalog LOGIN CREATEDB CREATEROLE PASSWORD 'metahog-catalog-pw';
CREATE DATABASE app;
CREATE DATABASE posthog;
