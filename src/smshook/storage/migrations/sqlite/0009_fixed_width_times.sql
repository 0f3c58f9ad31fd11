-- smshook schema, version 9 (SQLite): fixed-width times.
-- Times become fixed-width (issue 12): every stored time is UTC `YYYY-MM-DDTHH:MM:SS.mmmZ` (24
-- characters, smshook.events.stamp), so text order is time order. Until now a time without milliseconds
-- was stored without them (`…12:00:00Z`, 20 characters) and compared wrongly as text with one that had
-- them: `…12:00:00.123Z` < `…12:00:00Z`. Those rows get `.000`; no other width was ever written.
-- One UPDATE per table (each row rewritten once). The deliveries' times and lifecycle_leases.until are
-- unix seconds, smshook_identity.created_at was fixed-width from the start: nothing to convert there.

UPDATE raw_requests SET
    received_at = CASE WHEN length(received_at) = 20 AND substr(received_at, 20, 1) = 'Z' THEN substr(received_at, 1, 19) || '.000Z' ELSE received_at END
WHERE (length(received_at) = 20 AND substr(received_at, 20, 1) = 'Z');

UPDATE events SET
    occurred_at = CASE WHEN length(occurred_at) = 20 AND substr(occurred_at, 20, 1) = 'Z' THEN substr(occurred_at, 1, 19) || '.000Z' ELSE occurred_at END,
    received_at = CASE WHEN length(received_at) = 20 AND substr(received_at, 20, 1) = 'Z' THEN substr(received_at, 1, 19) || '.000Z' ELSE received_at END
WHERE (length(occurred_at) = 20 AND substr(occurred_at, 20, 1) = 'Z')
   OR (length(received_at) = 20 AND substr(received_at, 20, 1) = 'Z');

UPDATE messages SET
    occurred_at = CASE WHEN length(occurred_at) = 20 AND substr(occurred_at, 20, 1) = 'Z' THEN substr(occurred_at, 1, 19) || '.000Z' ELSE occurred_at END,
    updated_at = CASE WHEN length(updated_at) = 20 AND substr(updated_at, 20, 1) = 'Z' THEN substr(updated_at, 1, 19) || '.000Z' ELSE updated_at END,
    first_seen = CASE WHEN length(first_seen) = 20 AND substr(first_seen, 20, 1) = 'Z' THEN substr(first_seen, 1, 19) || '.000Z' ELSE first_seen END,
    sent_at = CASE WHEN length(sent_at) = 20 AND substr(sent_at, 20, 1) = 'Z' THEN substr(sent_at, 1, 19) || '.000Z' ELSE sent_at END
WHERE (length(occurred_at) = 20 AND substr(occurred_at, 20, 1) = 'Z')
   OR (length(updated_at) = 20 AND substr(updated_at, 20, 1) = 'Z')
   OR (length(first_seen) = 20 AND substr(first_seen, 20, 1) = 'Z')
   OR (length(sent_at) = 20 AND substr(sent_at, 20, 1) = 'Z');

UPDATE quarantine SET
    first_seen = CASE WHEN length(first_seen) = 20 AND substr(first_seen, 20, 1) = 'Z' THEN substr(first_seen, 1, 19) || '.000Z' ELSE first_seen END,
    last_seen = CASE WHEN length(last_seen) = 20 AND substr(last_seen, 20, 1) = 'Z' THEN substr(last_seen, 1, 19) || '.000Z' ELSE last_seen END,
    reprocessed_at = CASE WHEN length(reprocessed_at) = 20 AND substr(reprocessed_at, 20, 1) = 'Z' THEN substr(reprocessed_at, 1, 19) || '.000Z' ELSE reprocessed_at END,
    dismissed_at = CASE WHEN length(dismissed_at) = 20 AND substr(dismissed_at, 20, 1) = 'Z' THEN substr(dismissed_at, 1, 19) || '.000Z' ELSE dismissed_at END
WHERE (length(first_seen) = 20 AND substr(first_seen, 20, 1) = 'Z')
   OR (length(last_seen) = 20 AND substr(last_seen, 20, 1) = 'Z')
   OR (length(reprocessed_at) = 20 AND substr(reprocessed_at, 20, 1) = 'Z')
   OR (length(dismissed_at) = 20 AND substr(dismissed_at, 20, 1) = 'Z');

UPDATE rejected_requests SET
    first_seen = CASE WHEN length(first_seen) = 20 AND substr(first_seen, 20, 1) = 'Z' THEN substr(first_seen, 1, 19) || '.000Z' ELSE first_seen END,
    last_seen = CASE WHEN length(last_seen) = 20 AND substr(last_seen, 20, 1) = 'Z' THEN substr(last_seen, 1, 19) || '.000Z' ELSE last_seen END
WHERE (length(first_seen) = 20 AND substr(first_seen, 20, 1) = 'Z')
   OR (length(last_seen) = 20 AND substr(last_seen, 20, 1) = 'Z');

UPDATE subscriptions SET
    created_at = CASE WHEN length(created_at) = 20 AND substr(created_at, 20, 1) = 'Z' THEN substr(created_at, 1, 19) || '.000Z' ELSE created_at END,
    updated_at = CASE WHEN length(updated_at) = 20 AND substr(updated_at, 20, 1) = 'Z' THEN substr(updated_at, 1, 19) || '.000Z' ELSE updated_at END
WHERE (length(created_at) = 20 AND substr(created_at, 20, 1) = 'Z')
   OR (length(updated_at) = 20 AND substr(updated_at, 20, 1) = 'Z');

UPDATE audit_log SET
    at = CASE WHEN length(at) = 20 AND substr(at, 20, 1) = 'Z' THEN substr(at, 1, 19) || '.000Z' ELSE at END
WHERE (length(at) = 20 AND substr(at, 20, 1) = 'Z');

UPDATE registrations SET
    sent_at = CASE WHEN length(sent_at) = 20 AND substr(sent_at, 20, 1) = 'Z' THEN substr(sent_at, 1, 19) || '.000Z' ELSE sent_at END,
    registered_at = CASE WHEN length(registered_at) = 20 AND substr(registered_at, 20, 1) = 'Z' THEN substr(registered_at, 1, 19) || '.000Z' ELSE registered_at END
WHERE (length(sent_at) = 20 AND substr(sent_at, 20, 1) = 'Z')
   OR (length(registered_at) = 20 AND substr(registered_at, 20, 1) = 'Z');
