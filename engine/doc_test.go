package engine_test

import (
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"os"
	"strings"
	"testing"
)

// TestPackageDocListsTheAPI keeps the package doc's list of the public API
// whole: every exported function, every method of Engine and every type
// that is not an event is named in it. (The events are named as "one
// struct per reference event".)
func TestPackageDocListsTheAPI(t *testing.T) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, f := range pkgs["engine"].Files {
		files = append(files, f)
	}
	p, err := doc.NewFromFiles(fset, files, "softphone/engine")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range p.Funcs {
		names = append(names, f.Name)
	}
	for _, ty := range p.Types {
		isEvent := false
		for _, m := range ty.Methods {
			isEvent = isEvent || m.Name == "EventName"
		}
		if !isEvent {
			names = append(names, ty.Name)
		}
		for _, f := range ty.Funcs {
			names = append(names, f.Name)
		}
		if ty.Name == "Engine" {
			for _, m := range ty.Methods {
				if m.Name != "String" {
					names = append(names, m.Name)
				}
			}
		}
	}
	for _, n := range names {
		if !strings.Contains(p.Doc, n) {
			t.Errorf("the package doc does not name %s", n)
		}
	}
}
