package gitcatalog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/streamspace/controlplane/pkg/gitcatalog/giturl"
)

// Source says what to fetch.
type Source struct {
	// URL of the repository: https://, http://, ssh://, git://, file:// or scp-like user@host:path.
	URL string
	// Branch to fetch.
	Branch string
	// Path inside the repository where the templates are ("" = the root).
	Path string
}

// Checkout is a fetched commit of a repository.
type Checkout struct {
	// Commit is the hash of the branch head that was fetched.
	Commit string
	// Dir is the work tree, hard reset to Commit.
	Dir  string
	repo *git.Repository
}

// Fetcher keeps one shallow clone per repository under WorkDir: the first
// sync clones (depth 1, the one branch), later syncs fetch and hard reset.
// Credentials are never written to disk: each call gets its own in-memory
// auth method.
type Fetcher struct {
	WorkDir string
}

// Fetch brings the clone named name (a TemplateRepository name, which is a
// DNS subdomain and so a safe folder name) up to date with the branch head.
// Errors never contain credentials.
func (f *Fetcher) Fetch(ctx context.Context, name string, src Source, creds *Credentials) (*Checkout, error) {
	useRedirectCheckingTransport()
	auth, err := creds.authMethod(src.URL)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(f.WorkDir, name)
	repo, err := f.open(dir, src)
	if err != nil {
		return nil, err
	}
	branchRef := plumbing.NewBranchReferenceName(src.Branch)
	remoteRef := plumbing.NewRemoteReferenceName(git.DefaultRemoteName, src.Branch)
	if repo == nil {
		repo, err = git.PlainCloneContext(ctx, dir, false, &git.CloneOptions{
			URL:           src.URL,
			Auth:          auth,
			ReferenceName: branchRef,
			SingleBranch:  true,
			Depth:         1,
			Tags:          git.NoTags,
			CABundle:      creds.caBundle(),
		})
		if err != nil {
			_ = os.RemoveAll(dir)
			return nil, creds.scrub(fmt.Errorf("clone %s branch %s: %w", giturl.Redact(src.URL), src.Branch, explain(err)))
		}
	} else {
		err = repo.FetchContext(ctx, &git.FetchOptions{
			RemoteName: git.DefaultRemoteName,
			RefSpecs:   []config.RefSpec{config.RefSpec(fmt.Sprintf("+%s:%s", branchRef, remoteRef))},
			Depth:      1,
			Auth:       auth,
			Tags:       git.NoTags,
			Force:      true,
			CABundle:   creds.caBundle(),
		})
		if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
			return nil, creds.scrub(fmt.Errorf("fetch %s branch %s: %w", giturl.Redact(src.URL), src.Branch, explain(err)))
		}
	}
	ref, err := repo.Reference(remoteRef, true)
	if err != nil {
		return nil, fmt.Errorf("find branch %s after fetching %s: %w", src.Branch, giturl.Redact(src.URL), err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return nil, fmt.Errorf("open work tree of %s: %w", name, err)
	}
	if err := wt.Reset(&git.ResetOptions{Commit: ref.Hash(), Mode: git.HardReset}); err != nil {
		return nil, fmt.Errorf("reset %s to %s: %w", name, ref.Hash(), err)
	}
	return &Checkout{Commit: ref.Hash().String(), Dir: dir, repo: repo}, nil
}

// open returns the existing clone for src, or nil (after removing whatever
// was there) when there is none or it was cloned from another URL or branch.
func (f *Fetcher) open(dir string, src Source) (*git.Repository, error) {
	repo, err := git.PlainOpen(dir)
	if err == nil {
		remote, rerr := repo.Remote(git.DefaultRemoteName)
		if rerr == nil && len(remote.Config().URLs) == 1 && remote.Config().URLs[0] == src.URL && clonedBranch(repo) == src.Branch {
			return repo, nil
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("remove stale clone %s: %w", dir, err)
	}
	if err := os.MkdirAll(f.WorkDir, 0o700); err != nil {
		return nil, fmt.Errorf("create work dir: %w", err)
	}
	return nil, nil
}

func clonedBranch(repo *git.Repository) string {
	head, err := repo.Head()
	if err != nil {
		return ""
	}
	return head.Name().Short()
}

// Remove deletes the clone of a repository that no longer exists.
func (f *Fetcher) Remove(name string) error {
	return os.RemoveAll(filepath.Join(f.WorkDir, name))
}

// Files returns the catalog files (see IsCatalogFile) of the fetched commit
// under subPath, with paths relative to subPath. Files are read from the
// commit, so nothing but the repository's content is ever seen.
func (c *Checkout) Files(subPath string) ([]File, error) {
	commit, err := c.repo.CommitObject(plumbing.NewHash(c.Commit))
	if err != nil {
		return nil, fmt.Errorf("read commit %s: %w", c.Commit, err)
	}
	tree, err := commit.Tree()
	if err != nil {
		return nil, fmt.Errorf("read tree of %s: %w", c.Commit, err)
	}
	subPath = strings.Trim(path.Clean("/"+subPath), "/")
	if subPath != "" {
		tree, err = tree.Tree(subPath)
		if errors.Is(err, object.ErrDirectoryNotFound) {
			return nil, fmt.Errorf("spec.path %q does not exist in commit %s", subPath, c.Commit)
		}
		if err != nil {
			return nil, fmt.Errorf("read %s of %s: %w", subPath, c.Commit, err)
		}
	}
	var files []File
	err = tree.Files().ForEach(func(file *object.File) error {
		if !IsCatalogFile(file.Name) || !file.Mode.IsFile() {
			return nil
		}
		if file.Size > MaxFileSize {
			files = append(files, File{Path: file.Name, Data: make([]byte, MaxFileSize+1)})
			return nil
		}
		r, err := file.Reader()
		if err != nil {
			return fmt.Errorf("read %s: %w", file.Name, err)
		}
		defer r.Close()
		data, err := io.ReadAll(r)
		if err != nil {
			return fmt.Errorf("read %s: %w", file.Name, err)
		}
		files = append(files, File{Path: file.Name, Data: data})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return files, nil
}

// explain turns go-git's terse transport errors into what a person can act on.
func explain(err error) error {
	var netErr *net.OpError
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired):
		return fmt.Errorf("%w: the server refused the request without valid credentials; check auth.type and the Secret named by auth.secretRef", err)
	case errors.Is(err, transport.ErrAuthorizationFailed):
		return fmt.Errorf("%w: the server refused the credentials in the Secret named by auth.secretRef", err)
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return fmt.Errorf("%w: check spec.url (private repositories also answer this without valid credentials)", err)
	case errors.Is(err, plumbing.ErrReferenceNotFound) || errors.Is(err, git.NoMatchingRefSpecError{}):
		return fmt.Errorf("%w: check spec.branch", err)
	case errors.As(err, &netErr):
		return fmt.Errorf("cannot reach the server: %w", err)
	}
	return err
}
