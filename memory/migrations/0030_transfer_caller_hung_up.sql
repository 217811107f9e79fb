-- 0030: a warm transfer whose caller hung up while holding ends as caller-hung-up
-- (memory.warm_transfers): nobody is joined to the conference or brought back.
ALTER TABLE calls DROP CONSTRAINT calls_transfer_result_check;
ALTER TABLE calls ADD CONSTRAINT calls_transfer_result_check
    CHECK (transfer_result IN ('completed', 'busy', 'no-answer', 'failed', 'canceled',
                               'declined', 'caller-hung-up'));
