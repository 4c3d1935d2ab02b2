-- PostgreSQL's fillfactor for in-place redemptions (see the other flavour); SQLite has no
-- such setting. Kept so that both flavours carry the same migration versions.
SELECT 1;
