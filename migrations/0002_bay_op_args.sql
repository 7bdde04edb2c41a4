-- Arguments of a bay's running operation that any conductor taking it over needs
-- (resize: the backend ids of the nodes to release first).
ALTER TABLE bay ADD COLUMN op_args JSONB NOT NULL DEFAULT '{}';
