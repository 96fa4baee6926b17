-- 0012_ledger_account_check.sql: a ledger entry's account is checked once per statement,
-- not once per row.
--
-- The foreign key ran a lookup of the account for every inserted entry. Ingest posts one
-- energy charge per meter per batch, hundreds in one statement, and every one of those
-- accounts is already locked by that transaction (the ledger locks before it appends), so
-- the per-row lookups were a third of the cost of the insert and bought nothing.
-- The same guarantee now comes from two triggers:
--   * after each INSERT statement, one query that looks up the new entries' accounts;
--   * accounts are never deleted or truncated (the foreign key also guarded that side).
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_account_id_fkey;

CREATE FUNCTION ledger_accounts_exist() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- A correlated probe per new entry: a primary-key lookup each, never a pass over
    -- every account (an anti-join may be planned as a hash of the whole table).
    IF EXISTS (SELECT 1 FROM new_entries n
               WHERE (SELECT a.id FROM accounts a WHERE a.id = n.account_id) IS NULL) THEN
        RAISE EXCEPTION 'a ledger entry names an account that does not exist'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER ledger_account_exists AFTER INSERT ON ledger_entries
    REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_accounts_exist();

CREATE FUNCTION accounts_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'accounts are never deleted: the ledger refers to them'
        USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER accounts_no_delete BEFORE DELETE ON accounts
    FOR EACH ROW EXECUTE FUNCTION accounts_kept();
CREATE TRIGGER accounts_no_truncate BEFORE TRUNCATE ON accounts
    FOR EACH STATEMENT EXECUTE FUNCTION accounts_kept();
