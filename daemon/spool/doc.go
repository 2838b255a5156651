// Package spool is the folders a task file travels through, and the rules
// every step keeps. The daemon, its tests, the doctor, the demo and the
// torture suite find the folders through Layout; only this package moves
// and creates files in them.
//
// # Folders and the lock
//
//	inbox/                       files dropped by users
//	outbox/                      answers (<name>.json) and pictures (<name>.png)
//	<spool>/work/<instance>/     files claimed by the daemon of that instance
//	<spool>/work/.<instance>.lock  held (flock) by that daemon while it runs
//	<spool>/done/                inputs answered
//	<spool>/failed/              inputs that failed, each beside <name>.error.json
//
// Several daemons may share a spool, each with its own instance name; the
// lock keeps two daemons of one name apart, and tells the work/ folders of
// daemons that run from orphans (Orphans, Adopt).
//
// # The states of a job
//
//  1. Claimed: Claim renames inbox/<name> into work/<instance>/<job>
//     without replacing, where job is the name itself or <stem>.<n>.json,
//     free everywhere a job's files go (work/ of every instance, done/,
//     failed/ and its records, the outbox's answers and pictures). It
//     creates only work/<instance>/<job>. A name too long to answer (over
//     MaxNameBytes) never enters work/: it goes from the inbox straight to
//     failed/ under a short name with its error record.
//  2. Answer (or error record) written: Write creates the picture and the
//     answer in the outbox, or the record in failed/. Nothing else.
//  3. Input retired: Write moves work/<instance>/<job> into done/ (beside
//     its answer) or failed/ (beside its record). Until then the input
//     stays in work/, and a daemon that restarts takes it up again.
//
// A Result records the steps done: when a step fails (a full disk, a
// read-only folder), the next Write does only what is left, and never
// writes an answer twice.
//
// # Nothing that exists is ever replaced
//
// Answers, pictures and error records are created by a rename that never
// replaces (renameat2 RENAME_NOREPLACE, or link and unlink), and inputs are
// moved the same way. A name found taken at that moment, whoever made the
// file (a user, another daemon, an earlier run of this one), is left as it
// is and the next free name is taken: an existing record is never taken
// for this job's own. A job's files share one name: when its answer's name
// is taken in the outbox at write time, the answer, the picture and the
// input in done/ all take the next free name, so that done/<n> pairs with
// outbox/<n>.json; an error record and its input are created at the first
// name where both are free in failed/. The one exception to the pairing is
// a name in done/ taken between the answer and the move (by another daemon
// or a person): the input then takes the next free name in done/, and the
// answer keeps its own.
//
// A free name is found by galloping through n = 1, 2, 4, 8 ... and
// halving back (any free name will do, the create never replaces), so a
// claim costs the same however many earlier files share its name.
//
// A crash between two steps leaves the input in work/, and it is run again
// at the next start. Just before an answer (or record) is created, a hidden
// mark in work/<instance> records its name, checksum and the input's inode:
// after a restart, the job's Write finds that very file (the same bytes)
// and retires the input beside it, so a kill costs no second answer. A
// file at that name with other bytes is someone else's; a picture made
// without its answer is the job's own and removed. The mark is not
// fsynced: after a power cut at that moment the answer is made again under
// the next free name. A file adopted from an orphaned work/ folder takes
// its mark along.
//
// # When the world changes underneath
//
//   - The inbox deleted and made again on the same filesystem is taken as
//     the inbox; a symbolic link, another filesystem mounted over it or
//     anything else stops the claims until the inbox is back (CheckInbox).
//     A claim that fails for any other reason than the file being gone
//     (EXDEV under a bind mount over the inbox, a permission) leaves the
//     file in the inbox and is the daemon's to report as an unusable inbox.
//   - work/<instance>, done/, failed/ or the outbox deleted: made again at
//     the next claim or write, as at the start.
//   - The lock's path removed or replaced (rm -rf spool/work): CheckLock
//     (before every Claim, Pending and Write) takes the lock again on a new
//     file; when another daemon of this instance holds it by then, every
//     call fails with ErrLockLost and this daemon claims and writes nothing
//     until it holds the lock again.
//   - An input gone from work/ (an admin removed it), or another file under
//     its name: Write fails with ErrInputGone, and the result is dropped;
//     an answer written before stays in the outbox.
package spool
