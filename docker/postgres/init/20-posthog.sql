-- Generated from gateway/demo_data.py by `python -m gateway.demo_data --write-docker docker`
-- (tests/test_compose.py checks it is current): edit that, not this file.
\connect posthog

CREATE FUNCTION pg_temp.demo_uuid(seed text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-4' || substr(h, 14, 3) || '-8'
         || substr(h, 18, 3) || '-' || substr(h, 21, 12) FROM (SELECT md5(seed) AS h) m
$$;

CREATE TABLE posthog_organization (
    id uuid PRIMARY KEY,
    name varchar(64) NOT NULL,
    created_at timestamptz NOT NULL,
    plugins_access_level smallint NOT NULL DEFAULT 9
);
CREATE TABLE posthog_user (
    id serial PRIMARY KEY,
    uuid uuid NOT NULL UNIQUE,
    email varchar(254) NOT NULL UNIQUE,
    first_name varchar(150) NOT NULL,
    is_staff boolean NOT NULL DEFAULT false,
    current_organization_id uuid REFERENCES posthog_organization,
    date_joined timestamptz NOT NULL
);
CREATE TABLE posthog_team (
    id serial PRIMARY KEY,
    uuid uuid NOT NULL UNIQUE,
    organization_id uuid NOT NULL REFERENCES posthog_organization,
    api_token varchar(200) NOT NULL UNIQUE,
    name varchar(200) NOT NULL,
    app_urls varchar(200)[] NOT NULL,
    timezone varchar(240) NOT NULL DEFAULT 'UTC',
    created_at timestamptz NOT NULL
);
CREATE TABLE posthog_person (
    id bigserial PRIMARY KEY,
    created_at timestamptz NOT NULL,
    properties jsonb NOT NULL,
    is_identified boolean NOT NULL,
    uuid uuid NOT NULL,
    team_id integer NOT NULL REFERENCES posthog_team,
    version bigint
);
CREATE TABLE posthog_persondistinctid (
    id bigserial PRIMARY KEY,
    distinct_id varchar(400) NOT NULL,
    person_id bigint NOT NULL REFERENCES posthog_person,
    team_id integer NOT NULL REFERENCES posthog_team,
    version bigint,
    UNIQUE (team_id, distinct_id)
);
CREATE TABLE posthog_featureflag (
    id serial PRIMARY KEY,
    key varchar(400) NOT NULL,
    name text NOT NULL,
    filters jsonb NOT NULL,
    rollout_percentage integer,
    active boolean NOT NULL,
    deleted boolean NOT NULL DEFAULT false,
    team_id integer NOT NULL REFERENCES posthog_team,
    created_by_id integer REFERENCES posthog_user,
    created_at timestamptz NOT NULL
);
CREATE TABLE posthog_dashboard (
    id serial PRIMARY KEY,
    name varchar(400),
    description text NOT NULL DEFAULT '',
    pinned boolean NOT NULL DEFAULT false,
    deleted boolean NOT NULL DEFAULT false,
    team_id integer NOT NULL REFERENCES posthog_team,
    created_by_id integer REFERENCES posthog_user,
    created_at timestamptz NOT NULL
);
CREATE TABLE posthog_cohort (
    id serial PRIMARY KEY,
    name varchar(400),
    filters jsonb,
    count integer,
    team_id integer NOT NULL REFERENCES posthog_team,
    created_at timestamptz NOT NULL
);
COMMENT ON TABLE posthog_person IS 'persons; the same UUIDs as events.person_id';
INSERT INTO posthog_organization VALUES
  ('0191f3a0-0000-4000-8000-000000000001', 'Hedgebox Inc.', timestamptz '2025-06-01', 9);
INSERT INTO posthog_user (uuid, email, first_name, is_staff, current_organization_id,
                          date_joined)
SELECT pg_temp.demo_uuid('user-' || g)::uuid, name || '@hedgebox.example', initcap(name),
       g = 1, '0191f3a0-0000-4000-8000-000000000001',
       timestamptz '2025-06-01' + g * interval '9 days'
FROM unnest(ARRAY['ada','grace','linus','margaret','ken']) WITH ORDINALITY AS u(name, g);
INSERT INTO posthog_team (uuid, organization_id, api_token, name, app_urls, created_at) VALUES
  ('0191f3a0-0000-4000-8000-0000000000a1', '0191f3a0-0000-4000-8000-000000000001',
   'phc_demo_shop_0000000000000000000000000000', 'Shop (production)',
   ARRAY['https://shop.example.com'], timestamptz '2025-06-01'),
  ('0191f3a0-0000-4000-8000-0000000000a2', '0191f3a0-0000-4000-8000-000000000001',
   'phc_demo_staging_000000000000000000000000', 'Shop (staging)',
   ARRAY['https://staging.shop.example.com'], timestamptz '2025-07-15');
INSERT INTO posthog_person (id, created_at, properties, is_identified, uuid, team_id, version)
SELECT k, date_trunc('second', now()) - make_interval(secs => 30 * 86400 + (k * 7919) % (60 * 86400)),
       CASE WHEN k % 2 = 1
            THEN jsonb_build_object('email', 'user_' || k || '@example.com',
                                    'name', 'Customer ' || ((k + 1) / 2))
            ELSE '{}'::jsonb END
       || jsonb_build_object('$initial_browser', (ARRAY['Chrome', 'Safari', 'Firefox', 'Edge', 'Chrome'])[1 + k % 5], '$initial_os', (ARRAY['Mac OS X', 'Windows', 'iOS', 'Android', 'Linux'])[1 + (k / 5) % 5],
                             '$initial_geoip_country_code', (ARRAY['US', 'DE', 'FR', 'GB', 'BR', 'IN', 'JP'])[1 + ((k + 1) / 2) % 7]),
       k % 2 = 1, pg_temp.demo_uuid('person-' || k)::uuid, 1, 0
FROM generate_series(1, 50000) k;
SELECT setval(pg_get_serial_sequence('posthog_person', 'id'), 50000);
INSERT INTO posthog_persondistinctid (distinct_id, person_id, team_id, version)
SELECT pg_temp.demo_uuid('anon-' || k), k, 1, 0 FROM generate_series(1, 50000) k
UNION ALL
SELECT 'user_' || k, k, 1, 0 FROM generate_series(1, 50000, 2) k;
INSERT INTO posthog_featureflag (key, name, filters, rollout_percentage, active, team_id,
                                 created_by_id, created_at)
SELECT key, name, jsonb_build_object('groups', jsonb_build_array(
           jsonb_build_object('properties', '[]'::jsonb, 'rollout_percentage', pct))),
       pct, active, 1, 1 + n % 5, timestamptz '2025-09-01' + n * interval '6 days'
FROM (VALUES (1, 'new-checkout', 'New checkout flow', 50, true),
             (2, 'dark-mode', 'Dark mode', 100, true),
             (3, 'recommendations-v2', 'Product recommendations v2', 20, true),
             (4, 'free-shipping-banner', 'Free shipping banner', 0, false),
             (5, 'onboarding-tour', 'Onboarding tour', 75, true))
     AS f(n, key, name, pct, active);
INSERT INTO posthog_dashboard (name, description, pinned, team_id, created_by_id, created_at)
VALUES ('Web analytics', 'Traffic, sources and devices', true, 1, 1, timestamptz '2025-06-02'),
       ('Shop funnel', 'Product viewed to order completed', true, 1, 2, timestamptz '2025-06-10'),
       ('Retention', 'Weekly returning users', false, 1, 3, timestamptz '2025-07-01'),
       ('Staging smoke tests', '', false, 2, 4, timestamptz '2025-07-16');
INSERT INTO posthog_cohort (name, filters, count, team_id, created_at)
VALUES ('Customers in Germany', '{"properties": {"type": "AND", "values": []}}', NULL, 1,
        timestamptz '2025-08-01'),
       ('Power users', '{"properties": {"type": "AND", "values": []}}', NULL, 1,
        timestamptz '2025-08-15');
CREATE INDEX ON posthog_persondistinctid (person_id);
CREATE INDEX ON posthog_person (uuid);
ANALYZE;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO metahog_reader;
