//! Where devconsole keeps its files: the platform data and config dirs from `directories`,
//! overridable with `DEVCONSOLE_DATA_DIR` / `DEVCONSOLE_CONFIG_DIR` (tests and portable setups).

use std::path::PathBuf;

fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "devconsole")
}

pub fn data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("DEVCONSOLE_DATA_DIR") {
        return PathBuf::from(dir);
    }
    project_dirs()
        .map(|p| p.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".devconsole"))
}

pub fn config_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("DEVCONSOLE_CONFIG_DIR") {
        return PathBuf::from(dir);
    }
    project_dirs()
        .map(|p| p.config_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".devconsole"))
}

/// `sqlite://<data dir>/console.db`, creating the data dir.
pub fn default_database_url() -> std::io::Result<String> {
    let dir = data_dir();
    std::fs::create_dir_all(&dir)?;
    Ok(format!("sqlite://{}", dir.join("console.db").display()))
}
