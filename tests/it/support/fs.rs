//! File-system conditions for fault tests: a tiny tmpfs that can be filled up.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs of `size` (mount's syntax: `1m`) at `path`, unmounted on drop. `None` when
/// mounting is not allowed here.
pub struct SmallTmpfs(PathBuf);

impl SmallTmpfs {
    pub fn mount(path: &Path, size: &str) -> Option<SmallTmpfs> {
        std::fs::create_dir_all(path).ok()?;
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        status.success().then(|| SmallTmpfs(path.to_path_buf()))
    }
}

impl Drop for SmallTmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system holding `dir` (with `dir/filler`) until a write fails with ENOSPC.
pub fn fill(dir: &Path) -> std::io::Result<()> {
    let mut f = std::fs::File::create(dir.join("filler"))?;
    let block = vec![b'#'; 4096];
    loop {
        if let Err(e) = f.write_all(&block) {
            return if e.raw_os_error() == Some(ENOSPC) {
                Ok(())
            } else {
                Err(e)
            };
        }
    }
}

/// errno for "No space left on device" on Linux.
const ENOSPC: i32 = 28;
