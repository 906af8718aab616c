//! `/proxy-configs`: services.

pub mod create;
pub mod delete;
pub mod get;
pub mod list;
pub mod status;
pub mod update;

use actix_web::web;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.configure(create::config)
        .configure(list::config)
        .configure(get::config)
        .configure(update::config)
        .configure(status::config)
        .configure(delete::config);
}
