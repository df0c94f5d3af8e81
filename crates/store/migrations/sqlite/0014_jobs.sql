-- Long work started from the staff pages (printing a notice run, importing a file) runs as a
-- background job: who started it, how far it has come, and how it ended survive a reload and a
-- restart. A job still `running` when its server starts again was interrupted: it is marked
-- failed (`runner` names the server that ran it).
CREATE TABLE job (
    municipality_code TEXT NOT NULL,
    job_id            TEXT NOT NULL,
    kind              TEXT NOT NULL,
    subject           TEXT NOT NULL,
    started_by        TEXT NOT NULL,
    started_at        TEXT NOT NULL,
    runner            TEXT NOT NULL,
    status            TEXT NOT NULL,
    done              BIGINT NOT NULL DEFAULT 0,
    total             BIGINT NOT NULL DEFAULT 0,
    result            TEXT,
    error             TEXT,
    finished_at       TEXT,
    PRIMARY KEY (municipality_code, job_id)
);
CREATE INDEX job_running ON job (runner, status);
-- One running job per thing it works on: a second click on 印刷 does not print twice.
CREATE UNIQUE INDEX job_one_running ON job (municipality_code, kind, subject) WHERE status = 'running';

-- Where a run's files were written, so the pages can hand them out and a resumed print
-- continues in the same place.
ALTER TABLE notice_run ADD COLUMN output_dir TEXT;

-- A certificate can be revoked on its own (lost, issued in error), with the reason its
-- verification then gives.
ALTER TABLE certificate ADD COLUMN revoked_reason TEXT;
