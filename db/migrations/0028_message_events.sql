-- 0028_message_events.sql: two more events get templates (issue 16): grace_ended (a top-up
-- during grace called the cut off) and malicious_load_cut (the supply cut for a forbidden
-- high-power appliance). Until now they went out as English free text only, so a site on
-- Aliyun or Tencent, which send approved templates only, could not send them at all. And
-- login_code (issue 17): a tenant's sign-in code, which those carriers also send only by an
-- approved template.
ALTER TABLE message_templates DROP CONSTRAINT message_templates_event_check;
ALTER TABLE message_templates ADD CONSTRAINT message_templates_event_check CHECK (event IN ('low_balance',
    'grace_started', 'cut_off', 'restored', 'topup_received', 'statement_ready', 'alarm', 'grace_ended',
    'malicious_load_cut', 'login_code'));
