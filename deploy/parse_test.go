package deploy

// Small parsers for the files the deployment tests cross-check: Dockerfile,
// .dockerignore, nginx.conf, shell words and Compose interpolation. Each one
// reads only what the tests need and has a fuzz target below.

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/aigateway/gateway/converter/jsonx"
)

// ---- Dockerfile -------------------------------------------------------------

// instruction is one Dockerfile instruction with its continuation lines joined.
type instruction struct {
	Cmd  string // upper case: FROM, RUN, COPY...
	Args string
	Line int
}

// stage is one FROM section.
type stage struct {
	Base     string
	Name     string
	Platform string
	Instrs   []instruction
}

// dockerfile is a parsed Dockerfile.
type dockerfile struct {
	GlobalArgs map[string]string
	Stages     []stage
}

// parseDockerfile splits a Dockerfile into stages and instructions. It
// handles comments, backslash continuations and the FROM syntax; the
// arguments of other instructions are kept as text.
func parseDockerfile(src string) (dockerfile, error) {
	df := dockerfile{GlobalArgs: map[string]string{}}
	var cur strings.Builder
	start := 0
	flush := func() error {
		text := strings.TrimSpace(cur.String())
		cur.Reset()
		if text == "" {
			return nil
		}
		cmd, args, _ := strings.Cut(text, " ")
		in := instruction{Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args), Line: start}
		if in.Cmd == "FROM" {
			st, err := parseFrom(in.Args)
			if err != nil {
				return fmt.Errorf("line %d: %w", in.Line, err)
			}
			df.Stages = append(df.Stages, st)
			return nil
		}
		if len(df.Stages) == 0 {
			if in.Cmd != "ARG" {
				return fmt.Errorf("line %d: %s before the first FROM", in.Line, in.Cmd)
			}
			name, def, _ := strings.Cut(in.Args, "=")
			df.GlobalArgs[strings.TrimSpace(name)] = def
			return nil
		}
		last := &df.Stages[len(df.Stages)-1]
		last.Instrs = append(last.Instrs, in)
		return nil
	}
	for i, line := range strings.Split(src, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			// Comments, parser directives included, and comment lines
			// inside a continuation are dropped, as Docker does.
			continue
		}
		if cur.Len() == 0 {
			if trimmed == "" {
				continue
			}
			start = i + 1
		}
		if body, ok := strings.CutSuffix(strings.TrimRight(line, " \t\r"), `\`); ok {
			cur.WriteString(body)
			cur.WriteString(" ")
			continue
		}
		cur.WriteString(line)
		if err := flush(); err != nil {
			return dockerfile{}, err
		}
	}
	if err := flush(); err != nil {
		return dockerfile{}, err
	}
	if len(df.Stages) == 0 {
		return dockerfile{}, errors.New("no FROM instruction")
	}
	return df, nil
}

func parseFrom(args string) (stage, error) {
	var st stage
	fields := strings.Fields(args)
	for len(fields) > 0 && strings.HasPrefix(fields[0], "--") {
		if v, ok := strings.CutPrefix(fields[0], "--platform="); ok {
			st.Platform = v
		}
		fields = fields[1:]
	}
	switch {
	case len(fields) == 1:
	case len(fields) == 3 && strings.EqualFold(fields[1], "AS"):
		st.Name = fields[2]
	default:
		return stage{}, fmt.Errorf("FROM %q: want IMAGE [AS NAME]", args)
	}
	st.Base = fields[0]
	return st, nil
}

// final returns the last stage: the default build target.
func (df dockerfile) final() stage { return df.Stages[len(df.Stages)-1] }

// stage returns the stage called name.
func (df dockerfile) stage(name string) (stage, bool) {
	for _, st := range df.Stages {
		if st.Name == name {
			return st, true
		}
	}
	return stage{}, false
}

// resolved returns st with the instructions of the stages it is built FROM
// prepended, and the external image at the root of the chain as its Base:
// what the resulting image is made of.
func (df dockerfile) resolved(st stage) stage {
	out := st
	for depth := 0; depth < len(df.Stages); depth++ {
		parent, ok := df.stage(out.Base)
		if !ok {
			break
		}
		out.Instrs = append(slices.Clone(parent.Instrs), out.Instrs...)
		out.Base = parent.Base
	}
	return out
}

// all returns the stage's instructions named cmd.
func (st stage) all(cmd string) []instruction {
	var out []instruction
	for _, in := range st.Instrs {
		if in.Cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// lastArgs returns the arguments of the stage's last instruction named cmd.
func (st stage) lastArgs(cmd string) (string, bool) {
	ins := st.all(cmd)
	if len(ins) == 0 {
		return "", false
	}
	return ins[len(ins)-1].Args, true
}

// env returns the stage's ENV values (KEY=VALUE form, several per line).
func (st stage) env() (map[string]string, error) {
	env := map[string]string{}
	for _, in := range st.all("ENV") {
		words, err := shellWords(in.Args, nil)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", in.Line, err)
		}
		for _, w := range words {
			k, v, ok := strings.Cut(w, "=")
			if !ok {
				return nil, fmt.Errorf("line %d: ENV %q: want KEY=VALUE", in.Line, w)
			}
			env[k] = v
		}
	}
	return env, nil
}

// args returns the ARG defaults visible in the stage: global ones it
// redeclares, and its own.
func (df dockerfile) args(st stage) map[string]string {
	vars := map[string]string{}
	for _, in := range st.all("ARG") {
		name, def, hasDef := strings.Cut(in.Args, "=")
		name = strings.TrimSpace(name)
		if g, ok := df.GlobalArgs[name]; ok && !hasDef {
			def = g
		}
		vars[name] = def
	}
	return vars
}

// execForm decodes a JSON-array (exec form) argument list.
func execForm(args string) ([]string, error) {
	var out []string
	if err := jsonx.Unmarshal([]byte(args), &out); err != nil {
		return nil, fmt.Errorf("%q is not in exec form: %w", args, err)
	}
	return out, nil
}

// copyInstr is a COPY or ADD instruction.
type copyInstr struct {
	From  string
	Chown string
	Srcs  []string
	Dest  string
}

func parseCopy(args string) (copyInstr, error) {
	var c copyInstr
	fields := strings.Fields(args)
	for len(fields) > 0 && strings.HasPrefix(fields[0], "--") {
		k, v, _ := strings.Cut(strings.TrimPrefix(fields[0], "--"), "=")
		switch k {
		case "from":
			c.From = v
		case "chown":
			c.Chown = v
		}
		fields = fields[1:]
	}
	if len(fields) < 2 {
		return copyInstr{}, fmt.Errorf("COPY %q: want SRC... DEST", args)
	}
	c.Srcs, c.Dest = fields[:len(fields)-1], fields[len(fields)-1]
	return c, nil
}

// runCommand strips RUN's own flags (--mount=..., --network=...).
func runCommand(args string) string {
	for strings.HasPrefix(args, "--") {
		_, rest, _ := strings.Cut(args, " ")
		args = strings.TrimSpace(rest)
	}
	return args
}

// ---- shell words ------------------------------------------------------------

// shellWords splits a POSIX shell command line into words, removing quotes
// and expanding $VAR and ${VAR} from vars outside single quotes (nil vars:
// no expansion). "&&", "||", ";" and "|" become words of their own so that
// callers can split command lists.
func shellWords(s string, vars map[string]string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	end := func() {
		if inWord {
			words = append(words, w.String())
			w.Reset()
			inWord = false
		}
	}
	expand := func(i int) (int, error) {
		// s[i] == '$'
		if vars == nil || i+1 >= len(s) {
			w.WriteByte('$')
			return i + 1, nil
		}
		if s[i+1] == '{' {
			j := strings.IndexByte(s[i:], '}')
			if j < 0 {
				return 0, errors.New("unterminated ${")
			}
			name := s[i+2 : i+j]
			name, _, _ = strings.Cut(name, ":")
			w.WriteString(vars[name])
			return i + j + 1, nil
		}
		j := i + 1
		for j < len(s) && (s[j] == '_' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= '0' && s[j] <= '9') {
			j++
		}
		if j == i+1 {
			w.WriteByte('$')
			return j, nil
		}
		w.WriteString(vars[s[i+1:j]])
		return j, nil
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			end()
			i++
		case c == '&' && strings.HasPrefix(s[i:], "&&"), c == '|' && strings.HasPrefix(s[i:], "||"):
			end()
			words = append(words, s[i:i+2])
			i += 2
		case c == ';' || c == '|':
			end()
			words = append(words, string(c))
			i++
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("unterminated single quote")
			}
			w.WriteString(s[i+1 : i+1+j])
			inWord = true
			i += j + 2
		case c == '"':
			inWord = true
			i++
			for {
				if i >= len(s) {
					return nil, errors.New("unterminated double quote")
				}
				if s[i] == '"' {
					i++
					break
				}
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0 {
					w.WriteByte(s[i+1])
					i += 2
					continue
				}
				if s[i] == '$' {
					next, err := expand(i)
					if err != nil {
						return nil, err
					}
					i = next
					continue
				}
				w.WriteByte(s[i])
				i++
			}
		case c == '\\':
			if i+1 < len(s) {
				w.WriteByte(s[i+1])
			}
			inWord = true
			i += 2
		case c == '$':
			inWord = true
			next, err := expand(i)
			if err != nil {
				return nil, err
			}
			i = next
		default:
			w.WriteByte(c)
			inWord = true
			i++
		}
	}
	end()
	return words, nil
}

// splitCommands splits words at "&&", "||", ";" and "|".
func splitCommands(words []string) [][]string {
	var out [][]string
	var cur []string
	for _, w := range words {
		switch w {
		case "&&", "||", ";", "|":
			if len(cur) > 0 {
				out = append(out, cur)
			}
			cur = nil
		default:
			cur = append(cur, w)
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// ---- .dockerignore ----------------------------------------------------------

// ignoreRule is one .dockerignore line.
type ignoreRule struct {
	re     *regexp.Regexp
	negate bool
}

// parseDockerignore compiles .dockerignore patterns with Docker's rules:
// paths are relative to the context root, "**" matches any number of
// directories, "!" re-includes, and the last matching line wins.
func parseDockerignore(src string) ([]ignoreRule, error) {
	var rules []ignoreRule
	for n, line := range strings.Split(src, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r := ignoreRule{}
		if rest, ok := strings.CutPrefix(line, "!"); ok {
			r.negate, line = true, strings.TrimSpace(rest)
		}
		line = strings.Trim(line, "/")
		if line == "" {
			continue
		}
		re, err := globRegexp(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n+1, err)
		}
		r.re = re
		rules = append(rules, r)
	}
	return rules, nil
}

// globRegexp turns a Docker glob into an anchored regexp.
func globRegexp(glob string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(glob); i++ {
		c := glob[i]
		switch {
		case c == '*' && strings.HasPrefix(glob[i:], "**/"):
			b.WriteString("(.*/)?")
			i += 2
		case c == '*' && strings.HasPrefix(glob[i:], "**"):
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		case c == '[':
			j := strings.IndexByte(glob[i:], ']')
			if j < 0 {
				return nil, fmt.Errorf("pattern %q: unterminated [", glob)
			}
			class := glob[i+1 : i+j]
			if strings.HasPrefix(class, "!") {
				class = "^" + class[1:]
			}
			b.WriteString("[" + class + "]")
			i += j
		case c == '\\' && i+1 < len(glob):
			b.WriteString(regexp.QuoteMeta(string(glob[i+1])))
			i++
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, fmt.Errorf("pattern %q: %w", glob, err)
	}
	return re, nil
}

// ignored reports whether the slash-separated path, relative to the build
// context, is left out of the context. A pattern matching a parent directory
// excludes everything below it.
func ignored(rules []ignoreRule, path string) bool {
	out := false
	for _, r := range rules {
		if matchesOrParent(r.re, path) {
			out = !r.negate
		}
	}
	return out
}

func matchesOrParent(re *regexp.Regexp, path string) bool {
	for p := path; p != "" && p != "."; {
		if re.MatchString(p) {
			return true
		}
		i := strings.LastIndexByte(p, '/')
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return false
}

// ---- nginx.conf -------------------------------------------------------------

// directive is an nginx directive, with its block when it has one.
type directive struct {
	Name     string
	Args     []string
	Children []directive
}

// parseNginx parses nginx configuration syntax: directives ending in ";",
// blocks in braces, "#" comments and quoted arguments.
func parseNginx(src string) ([]directive, error) {
	toks, err := nginxTokens(src)
	if err != nil {
		return nil, err
	}
	ds, rest, err := nginxBlock(toks, 0)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, errors.New("unexpected }")
	}
	return ds, nil
}

type nginxToken struct {
	text   string
	quoted bool
}

func nginxTokens(src string) ([]nginxToken, error) {
	var toks []nginxToken
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '#':
			j := strings.IndexByte(src[i:], '\n')
			if j < 0 {
				return toks, nil
			}
			i += j
		case c == ';' || c == '{' || c == '}':
			toks = append(toks, nginxToken{text: string(c)})
			i++
		case c == '"' || c == '\'':
			var b strings.Builder
			j := i + 1
			for ; j < len(src) && src[j] != c; j++ {
				if src[j] == '\\' && j+1 < len(src) {
					j++
				}
				b.WriteByte(src[j])
			}
			if j >= len(src) {
				return nil, errors.New("unterminated quote")
			}
			toks = append(toks, nginxToken{text: b.String(), quoted: true})
			i = j + 1
		default:
			j := i
			for j < len(src) && strings.IndexByte(" \t\n\r;{}#", src[j]) < 0 {
				j++
			}
			toks = append(toks, nginxToken{text: src[i:j]})
			i = j
		}
	}
	return toks, nil
}

// nginxBlock parses directives until a closing brace or the end.
func nginxBlock(toks []nginxToken, depth int) ([]directive, []nginxToken, error) {
	if depth > 50 {
		return nil, nil, errors.New("blocks nested too deep")
	}
	var out []directive
	for len(toks) > 0 {
		t := toks[0]
		if !t.quoted && t.text == "}" {
			if depth == 0 {
				return nil, nil, errors.New("unexpected }")
			}
			return out, toks[1:], nil
		}
		if !t.quoted && (t.text == ";" || t.text == "{") {
			return nil, nil, fmt.Errorf("unexpected %s", t.text)
		}
		d := directive{Name: t.text}
		toks = toks[1:]
		for {
			if len(toks) == 0 {
				return nil, nil, fmt.Errorf("directive %s: missing ; or {", d.Name)
			}
			t := toks[0]
			toks = toks[1:]
			if !t.quoted && t.text == ";" {
				break
			}
			if !t.quoted && t.text == "{" {
				children, rest, err := nginxBlock(toks, depth+1)
				if err != nil {
					return nil, nil, err
				}
				d.Children, toks = children, rest
				break
			}
			if !t.quoted && t.text == "}" {
				return nil, nil, fmt.Errorf("directive %s: missing ;", d.Name)
			}
			d.Args = append(d.Args, t.text)
		}
		out = append(out, d)
	}
	if depth > 0 {
		return nil, nil, errors.New("missing }")
	}
	return out, nil, nil
}

// find returns every directive named name at any depth below ds.
func find(ds []directive, name string) []directive {
	var out []directive
	for _, d := range ds {
		if d.Name == name {
			out = append(out, d)
		}
		out = append(out, find(d.Children, name)...)
	}
	return out
}

// nginxDuration parses an nginx time value ("600s", "10m", "1h", "30").
func nginxDuration(v string) (int, error) {
	mult := 1
	switch {
	case strings.HasSuffix(v, "ms"):
		return 0, nil
	case strings.HasSuffix(v, "s"):
		v = strings.TrimSuffix(v, "s")
	case strings.HasSuffix(v, "m"):
		v, mult = strings.TrimSuffix(v, "m"), 60
	case strings.HasSuffix(v, "h"):
		v, mult = strings.TrimSuffix(v, "h"), 3600
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("nginx time %q: %w", v, err)
	}
	return n * mult, nil
}

// ---- Compose interpolation ---------------------------------------------------

var composeVar = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)((:?[-?+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// interpolate applies Compose variable interpolation with the variables in
// env (nil: none set), as `docker compose config` would.
func interpolate(s string, env map[string]string) (string, error) {
	var errs []error
	out := composeVar.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		sub := composeVar.FindStringSubmatch(m)
		name, op, arg := sub[1], sub[3], sub[4]
		if name == "" {
			name = sub[5]
		}
		v, set := env[name]
		switch op {
		case ":-":
			if v == "" {
				return arg
			}
		case "-":
			if !set {
				return arg
			}
		case ":?", "?":
			if !set || (op == ":?" && v == "") {
				errs = append(errs, fmt.Errorf("%s is required: %s", name, arg))
			}
		case ":+":
			if v != "" {
				return arg
			}
			return ""
		case "+":
			if set {
				return arg
			}
			return ""
		}
		return v
	})
	// An unterminated or malformed ${...} is left by the pattern; Compose
	// rejects it.
	if strings.Contains(composeVar.ReplaceAllString(s, ""), "${") {
		errs = append(errs, fmt.Errorf("invalid interpolation in %q", s))
	}
	return out, errors.Join(errs...)
}

// readFile reads a file relative to the repository root.
func readFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return string(b), nil
}
