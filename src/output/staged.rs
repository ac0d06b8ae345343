//! Outputs that appear whole or not at all: each is written under a temporary name beside its final one
//! (`NAME.partial` for a file, `NAME.partial/` for a folder) and renamed into place by
//! [`Staged::commit`] once everything the run writes is complete. A staged output that is dropped
//! uncommitted (an error, an interrupt) is removed.
//!
//! Input: an output path. Output: the temporary path to write, and the final one after commit. Thread: the
//! caller's.

use std::path::{Path, PathBuf};

use super::{OutputError, io_err};

/// A file or folder written under a temporary name, renamed to its final name on [`commit`](Self::commit).
#[derive(Debug)]
pub struct Staged {
    tmp: PathBuf,
    dest: PathBuf,
    dir: bool,
    done: bool,
}

impl Staged {
    /// The temporary name of `dest`: `dest` with `.partial` appended to its file name.
    pub fn partial_path(dest: &Path) -> PathBuf {
        let mut name = dest.file_name().map(std::ffi::OsStr::to_os_string).unwrap_or_default();
        name.push(".partial");
        dest.with_file_name(name)
    }

    /// Stages a file: creates `dest`'s folder if missing and returns the stage (nothing is created at
    /// the temporary name yet; the caller writes it).
    ///
    /// # Errors
    /// [`OutputError::Io`] when `dest` is a folder or its folder cannot be made.
    pub fn file(dest: &Path) -> Result<Self, OutputError> {
        if dest.is_dir() {
            return Err(OutputError::Io {
                path: dest.to_owned(),
                source: std::io::Error::other("it is a folder; give a file name"),
            });
        }
        if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        }
        Ok(Self { tmp: Self::partial_path(dest), dest: dest.to_owned(), dir: false, done: false })
    }

    /// Stages a folder: `dest` must not exist or be empty; the temporary folder is created, fresh.
    ///
    /// # Errors
    /// [`OutputError::Io`] when `dest` holds files already, or a folder cannot be made.
    pub fn dir(dest: &Path) -> Result<Self, OutputError> {
        if std::fs::read_dir(dest).is_ok_and(|mut d| d.next().is_some()) {
            return Err(OutputError::Io {
                path: dest.to_owned(),
                source: std::io::Error::other("the folder is not empty; give a new or empty folder"),
            });
        }
        let tmp = Self::partial_path(dest);
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;
        Ok(Self { tmp, dest: dest.to_owned(), dir: true, done: false })
    }

    /// Where to write.
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// The final name.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Renames the output into place.
    ///
    /// # Errors
    /// [`OutputError::Io`] when the rename fails (the temporary is removed).
    pub fn commit(mut self) -> Result<(), OutputError> {
        if self.dir {
            // An empty folder of that name was allowed; it makes way.
            let _ = std::fs::remove_dir(&self.dest);
        }
        std::fs::rename(&self.tmp, &self.dest).map_err(io_err(&self.dest))?;
        self.done = true;
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.done {
            let _ = if self.dir { std::fs::remove_dir_all(&self.tmp) } else { std::fs::remove_file(&self.tmp) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_appears_on_commit_and_a_dropped_one_leaves_nothing() {
        let dir = std::env::temp_dir().join(format!("facecast-staged-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let dest = dir.join("sub/out.jsonl");
        let s = Staged::file(&dest).unwrap();
        std::fs::write(s.path(), b"x").unwrap();
        assert!(!dest.exists());
        s.commit().unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"x");

        let lost = dir.join("lost.png");
        let s = Staged::file(&lost).unwrap();
        std::fs::write(s.path(), b"y").unwrap();
        let tmp = s.path().to_owned();
        drop(s);
        assert!(!lost.exists() && !tmp.exists());

        let frames = dir.join("frames");
        let s = Staged::dir(&frames).unwrap();
        std::fs::write(s.path().join("frame_000000.png"), b"z").unwrap();
        assert!(!frames.exists());
        s.commit().unwrap();
        assert!(frames.join("frame_000000.png").exists());
        assert!(Staged::dir(&frames).is_err(), "a folder with files in it is refused");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
