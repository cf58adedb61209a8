package benchdoc

import (
	"os"
	"path/filepath"
	"testing"
)

func TestReplace(t *testing.T) {
	begin, end := Markers("bench-x")
	path := filepath.Join(t.TempDir(), "benchmarks.md")
	section := func(body string) string { return begin + "\n" + body + "\n" + end + "\n" }

	steps := []struct {
		what, body, want string
	}{
		{"a new file gets a heading", "one", "# Benchmarks\n\n" + section("one")},
		{"the section is replaced in place", "two", "# Benchmarks\n\n" + section("two")},
	}
	for _, s := range steps {
		if err := Replace(path, begin, end, section(s.body)); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(path); string(got) != s.want {
			t.Fatalf("%s: got %q, want %q", s.what, got, s.want)
		}
	}
	// Text around the section stays; another program's section is appended.
	if err := os.WriteFile(path, []byte("# Benchmarks\n\nbefore\n\n"+section("two")+"\nafter\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Replace(path, begin, end, section("three")); err != nil {
		t.Fatal(err)
	}
	want := "# Benchmarks\n\nbefore\n\n" + section("three") + "\nafter\n"
	if got, _ := os.ReadFile(path); string(got) != want {
		t.Fatalf("replace between text: got %q, want %q", got, want)
	}
	otherBegin, otherEnd := Markers("bench-y")
	if err := Replace(path, otherBegin, otherEnd, otherBegin+"\ny\n"+otherEnd); err != nil {
		t.Fatal(err)
	}
	want += "\n" + otherBegin + "\ny\n" + otherEnd + "\n"
	if got, _ := os.ReadFile(path); string(got) != want {
		t.Fatalf("append: got %q, want %q", got, want)
	}
	if err := Replace(path, begin, end, "no markers"); err == nil {
		t.Fatal("a section without its markers was written")
	}
}
