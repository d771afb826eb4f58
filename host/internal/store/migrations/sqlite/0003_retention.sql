-- Prune: history older than the configured retention is deleted in small
-- batches by age, so each batch finds its rows through an index instead of
-- scanning the table.

CREATE INDEX runs_finished ON runs (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX uploads_finished ON uploads (finished_at) WHERE finished_at IS NOT NULL;
