//! API tests: the admin API over real HTTP on 127.0.0.1:0, each test on a fresh database,
//! each test twice (`::pg` on Postgres, `::sqlite` on SQLite).

mod helpers;

mod api_keys;
mod credentials;
mod dynamic_auth;
mod isolation;
mod journey;
mod openapi;
mod pagination;
mod rate_limit;
mod sessions;
mod validation;
