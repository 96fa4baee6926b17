-- 0011_occupancy.sql: when a tenant occupies its unit (for prorating shared costs), pools
-- that prorate, and main meters (the supply a site's reconciliation measures losses from).
ALTER TABLE tenants ADD COLUMN move_in date, ADD COLUMN move_out date,
    ADD CONSTRAINT tenants_occupancy CHECK (move_in IS NULL OR move_out IS NULL OR move_out >= move_in);
COMMENT ON COLUMN tenants.move_in IS 'first day the tenant occupies its unit (site-local); NULL: before any period';
COMMENT ON COLUMN tenants.move_out IS 'last day it occupies it; NULL: still there';
ALTER TABLE cost_pools ADD COLUMN prorate boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN cost_pools.prorate IS 'area and quota shares weighted by the days each member occupied its unit in the period';
ALTER TABLE meters DROP CONSTRAINT meters_purpose_check;
ALTER TABLE meters ADD CONSTRAINT meters_purpose_check
    CHECK (purpose IN ('tenant', 'hvac', 'lighting', 'elevator', 'other', 'main'));
