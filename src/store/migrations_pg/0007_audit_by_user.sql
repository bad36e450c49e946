-- 0007: a user's audit events without reading the whole chain (GET /v1/me/export). One index
-- per column: the query is a UNION of an actor arm and a target arm.
CREATE INDEX audit_events_actor ON audit_events(actor);
CREATE INDEX audit_events_target ON audit_events(target);
