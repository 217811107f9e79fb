-- 0008: how often a call was resumed on a fresh actor (the <Connect action> after its stream
-- was lost). Counted on the call's row, atomically, so replayed or concurrent resume requests,
-- a restarted tenant actor and several webhook replicas all see the same count.

ALTER TABLE calls ADD COLUMN resumes integer NOT NULL DEFAULT 0 CHECK (resumes >= 0);
