//! Upstream keys of a service, and `/keys/{key_id}`.

pub mod batch;
pub mod clear;
pub mod create;
pub mod delete;
pub mod list;
pub mod test;
pub mod update;

use actix_web::web;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.configure(list::config)
        .configure(create::config)
        .configure(batch::config)
        .configure(clear::config)
        .configure(update::config)
        .configure(test::config)
        .configure(delete::config);
}
