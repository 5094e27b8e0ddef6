-- Reference data the tables and models look up: Amazon's order statuses and what each means here, and
-- the ISO 4217 currencies. Replaced whole every time the schema is applied.

-- Amazon's fulfillment statuses and what they mean here. Pending orders have no buyer or prices
-- yet: they sit under the Amazon Pending Account and are Unpaid. Final orders keep their buyer's
-- details only for the retention period.
create or replace table order_statuses as
select * from (values
    ('PENDING_AVAILABILITY', 'Pending Availability', true, false, false),
    ('PENDING', 'Pending', true, false, false),
    ('UNSHIPPED', 'Unshipped', false, false, false),
    ('PARTIALLY_SHIPPED', 'Partially Shipped', false, false, false),
    ('SHIPPED', 'Shipped', false, true, false),
    ('CANCELLED', 'Canceled', false, true, true),
    ('UNFULFILLABLE', 'Unfulfillable', false, false, false)
) as statuses(amazon_status, status, is_pending, is_final, is_canceled);

-- ISO 4217 codes: an amount in any other currency is quarantined.
create or replace table iso_currencies as
select unnest(string_split(
    'AED,AFN,ALL,AMD,ANG,AOA,ARS,AUD,AWG,AZN,BAM,BBD,BDT,BGN,BHD,BIF,BMD,BND,BOB,BRL,BSD,BTN,BWP,BYN,'
    || 'BZD,CAD,CDF,CHF,CLP,CNY,COP,CRC,CUP,CVE,CZK,DJF,DKK,DOP,DZD,EGP,ERN,ETB,EUR,FJD,FKP,GBP,GEL,'
    || 'GHS,GIP,GMD,GNF,GTQ,GYD,HKD,HNL,HTG,HUF,IDR,ILS,INR,IQD,IRR,ISK,JMD,JOD,JPY,KES,KGS,KHR,KMF,'
    || 'KPW,KRW,KWD,KYD,KZT,LAK,LBP,LKR,LRD,LSL,LYD,MAD,MDL,MGA,MKD,MMK,MNT,MOP,MRU,MUR,MVR,MWK,MXN,'
    || 'MYR,MZN,NAD,NGN,NIO,NOK,NPR,NZD,OMR,PAB,PEN,PGK,PHP,PKR,PLN,PYG,QAR,RON,RSD,RUB,RWF,SAR,SBD,'
    || 'SCR,SDG,SEK,SGD,SHP,SLE,SOS,SRD,SSP,STN,SYP,SZL,THB,TJS,TMT,TND,TOP,TRY,TTD,TWD,TZS,UAH,UGX,'
    || 'USD,UYU,UZS,VES,VND,VUV,WST,XAF,XCD,XOF,XPF,YER,ZAR,ZMW,ZWL', ',')) as currency_code;
