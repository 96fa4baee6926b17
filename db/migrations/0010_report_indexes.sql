-- 0010_report_indexes.sql: what month-end reports need to avoid scanning the whole ledger.
-- Entries are appended roughly in time order, so a BRIN index on `at` finds a month's
-- entries for the cost of a few pages, and costs the money path next to nothing.
CREATE INDEX ledger_at_brin ON ledger_entries USING brin (at);
-- Money that moved other than by energy charges (top-ups, allocations, adjustments,
-- refunds): few rows, listed on every statement; energy charges never enter this index.
CREATE INDEX ledger_moves ON ledger_entries (at) WHERE kind <> 'energy_charge';
