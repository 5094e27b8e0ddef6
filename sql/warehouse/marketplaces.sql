-- Amazon's marketplaces: id, name, country and the time zone of its day (reference data, as reference.sql).
-- Sources: the ids and countries are Amazon's "Marketplace IDs" table
-- (https://developer-docs.amazon.com/sp-api/docs/marketplace-ids), as python-amazon-sp-api 2.1.35 copies
-- it into sp_api/base/marketplaces.py (Marketplaces, with Egypt, Saudi Arabia and South Africa); the names
-- are the stores' domains, as Amazon's Orders API v2026-01-01 gives them in salesChannel.marketplaceName.
-- The time zone is the one a marketplace's day is counted in: Amazon.com's reports run "from the first
-- report date at 12:00 a.m. to the last report date at 11:59 p.m. Pacific time" (Seller Central help,
-- Date Range Reports, 200989190); every other marketplace's is its country's IANA zone (where the
-- country spans several, its capital's, except Brazil and Australia: their largest market, Sao Paulo and
-- Sydney).
create or replace table marketplaces as
select * from (values
    -- North America
    ('ATVPDKIKX0DER', 'Amazon.com', 'US', 'America/Los_Angeles'),
    ('A2EUQ1WTGCTBG2', 'Amazon.ca', 'CA', 'America/Toronto'),
    ('A1AM78C64UM0Y8', 'Amazon.com.mx', 'MX', 'America/Mexico_City'),
    ('A2Q3Y263D00KWC', 'Amazon.com.br', 'BR', 'America/Sao_Paulo'),
    -- Europe, the Middle East, Africa and India
    ('A1F83G8C2ARO7P', 'Amazon.co.uk', 'GB', 'Europe/London'),
    ('A1PA6795UKMFR9', 'Amazon.de', 'DE', 'Europe/Berlin'),
    ('A13V1IB3VIYZZH', 'Amazon.fr', 'FR', 'Europe/Paris'),
    ('APJ6JRA9NG5V4', 'Amazon.it', 'IT', 'Europe/Rome'),
    ('A1RKKUPIHCS9HS', 'Amazon.es', 'ES', 'Europe/Madrid'),
    ('A1805IZSGTT6HS', 'Amazon.nl', 'NL', 'Europe/Amsterdam'),
    ('AMEN7PMS3EDWL', 'Amazon.com.be', 'BE', 'Europe/Brussels'),
    ('A28R8C7NBKEWEA', 'Amazon.ie', 'IE', 'Europe/Dublin'),
    ('A2NODRKZP88ZB9', 'Amazon.se', 'SE', 'Europe/Stockholm'),
    ('A1C3SOZRARQ6R3', 'Amazon.pl', 'PL', 'Europe/Warsaw'),
    ('A33AVAJ2PDY3EV', 'Amazon.com.tr', 'TR', 'Europe/Istanbul'),
    ('A2VIGQ35RCS4UG', 'Amazon.ae', 'AE', 'Asia/Dubai'),
    ('A17E79C6D8DWNP', 'Amazon.sa', 'SA', 'Asia/Riyadh'),
    ('ARBP9OOSHTCHU', 'Amazon.eg', 'EG', 'Africa/Cairo'),
    ('AE08WJ6YKNBMC', 'Amazon.co.za', 'ZA', 'Africa/Johannesburg'),
    ('A21TJRUUN4KGV', 'Amazon.in', 'IN', 'Asia/Kolkata'),
    -- Far East
    ('A1VC38T7YXB528', 'Amazon.co.jp', 'JP', 'Asia/Tokyo'),
    ('A39IBJ37TRP1C6', 'Amazon.com.au', 'AU', 'Australia/Sydney'),
    ('A19VAU5U5O7RUS', 'Amazon.sg', 'SG', 'Asia/Singapore')
) as marketplaces(marketplace_id, marketplace_name, country_code, time_zone);

comment on table marketplaces is 'Amazon''s marketplaces: id, name, country and the time zone its days are counted in (sources in sql/warehouse/marketplaces.sql).';
comment on column marketplaces.marketplace_id is 'Amazon''s marketplace id.';
comment on column marketplaces.marketplace_name is 'The store''s name (Amazon.com, Amazon.co.uk, ...).';
comment on column marketplaces.country_code is 'The marketplace''s country, ISO 3166.';
comment on column marketplaces.time_zone is 'The IANA time zone of the marketplace''s day.';
