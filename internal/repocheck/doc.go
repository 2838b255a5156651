// Package repocheck checks the repository as a whole: its Markdown
// documentation (links that resolve, a README that stays the first screen)
// and its code (no function longer than a screen, no Go line wider than 120
// characters).
package repocheck
