-- 0030_topup_amounts.sql: the top-up amounts a mall suggests on the tenant's phone page
-- (issue 17, item 4), in the site's minor units, smallest first.
ALTER TABLE sites ADD COLUMN topup_amounts_minor bigint[] NOT NULL DEFAULT '{5000,10000,20000,50000}'
    CHECK (cardinality(topup_amounts_minor) BETWEEN 1 AND 8 AND 0 < ALL (topup_amounts_minor));
COMMENT ON COLUMN sites.topup_amounts_minor IS 'suggested top-up amounts in minor units, ascending and distinct (the API sorts them); the tenant page offers them first';
