-- A tenant's bay list pages in id order after a marker (`project_id = $1 AND id > $2 ORDER BY
-- id LIMIT n`): this index makes each page a range read, whatever other projects hold
-- (doc/benchmarks.md, bay list at 10,000 bays).
CREATE INDEX bay_project_id_id_idx ON bay (project_id, id);
