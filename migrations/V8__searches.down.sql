-- V8 down: removes what V8__searches.sql created -- the `scraping_jobs`,
-- `search_results` and `searches` tables and their indexes.

DROP INDEX scraping_jobs_task_idx;
DROP INDEX scraping_jobs_search_idx;
DROP TABLE scraping_jobs;
DROP INDEX search_results_rank_idx;
DROP TABLE search_results;
DROP INDEX searches_session_idx;
DROP INDEX searches_status_idx;
DROP TABLE searches;
