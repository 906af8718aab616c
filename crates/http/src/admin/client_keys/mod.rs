//! `/client-keys`: who may call the proxies.

pub mod create;
pub mod delete;
pub mod list;
pub mod update;

use actix_web::web;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.configure(create::config)
        .configure(list::config)
        .configure(update::config)
        .configure(delete::config);
}
