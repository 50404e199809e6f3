// Package calendar owns working days: which dates are public holidays (Tết
// included) or weekend days worked in exchange, read from one YAML file per
// year (configs/holidays/<year>.yaml), and the due date that is a number of
// working days after a receipt, in Vietnam's time zone.
package calendar

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kbnn/dvc/adapter/yamlfile"
)

// ICT is Asia/Ho_Chi_Minh (UTC+7, no daylight saving): the portal's dates and
// the civil service's working days are in it.
var ict = time.FixedZone("ICT", 7*3600)

// Calendar knows the working days of the years it was loaded with. It is
// read-only and safe for concurrent use.
type Calendar struct {
	off   map[date]string // holiday → name
	work  map[date]bool   // weekend days worked
	years map[int]bool
}

type date struct {
	y int
	m time.Month
	d int
}

func dayOf(t time.Time) date {
	y, m, d := t.In(ict).Date()
	return date{y, m, d}
}

// fileYAML is the shape of configs/holidays/<year>.yaml.
type fileYAML struct {
	Year     int          `yaml:"year"`
	Holidays []holidayYML `yaml:"holidays"`
	Workdays []string     `yaml:"workdays"`
}

type holidayYML struct {
	Date string `yaml:"date"`
	From string `yaml:"from"`
	To   string `yaml:"to"`
	Name string `yaml:"name"`
}

// Load reads every <year>.yaml file of fsys's root. A file that names
// another year than its own, a date outside its year, a malformed date, a
// range that ends before it starts, or a worked day that is not a weekend
// day stops loading with file:line.
func Load(fsys fs.FS, root yamlfile.Root) (*Calendar, error) {
	names, err := fs.Glob(fsys, "*.yaml")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	c := &Calendar{off: map[date]string{}, work: map[date]bool{}, years: map[int]bool{}}
	for _, name := range names {
		if err := c.read(fsys, root, name); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c *Calendar) read(fsys fs.FS, root yamlfile.Root, name string) error {
	var f fileYAML
	top, err := root.Read(fsys, name, &f)
	if err != nil {
		return err
	}
	want, err := strconv.Atoi(strings.TrimSuffix(path.Base(name), ".yaml"))
	if err != nil || f.Year != want {
		return root.Errorf(name, yamlfile.LineOf(top, "year", top.Line), "year: is %d, want the year the file is named after", f.Year)
	}
	parse := func(s, key string) (time.Time, error) {
		t, err := time.ParseInLocation(time.DateOnly, s, ict)
		if err != nil {
			return t, fmt.Errorf("%s: %q is not a date (YYYY-MM-DD)", key, s)
		}
		if t.Year() != f.Year {
			return t, fmt.Errorf("%s: %s is not in %d", key, s, f.Year)
		}
		return t, nil
	}
	line := yamlfile.LineOf(top, "holidays", top.Line)
	for i, h := range f.Holidays {
		at := fmt.Sprintf("holidays[%d]", i)
		from, to := h.From, h.To
		switch {
		case h.Name == "":
			return root.Errorf(name, line, "%s: name is required", at)
		case h.Date != "" && (from != "" || to != ""):
			return root.Errorf(name, line, "%s: give date, or from and to, not both", at)
		case h.Date != "":
			from, to = h.Date, h.Date
		case from == "" || to == "":
			return root.Errorf(name, line, "%s: give date, or from and to", at)
		}
		start, err := parse(from, at)
		if err != nil {
			return root.Wrap(name, line, err)
		}
		end, err := parse(to, at)
		if err != nil {
			return root.Wrap(name, line, err)
		}
		if end.Before(start) {
			return root.Errorf(name, line, "%s: to %s is before from %s", at, to, from)
		}
		for d := start; !d.After(end); d = d.AddDate(0, 0, 1) {
			c.off[dayOf(d)] = h.Name
		}
	}
	for i, s := range f.Workdays {
		d, err := parse(s, fmt.Sprintf("workdays[%d]", i))
		if err != nil {
			return root.Wrap(name, yamlfile.LineOf(top, "workdays", top.Line), err)
		}
		if wd := d.Weekday(); wd != time.Saturday && wd != time.Sunday {
			return root.Errorf(name, yamlfile.LineOf(top, "workdays", top.Line), "workdays[%d]: %s is a weekday already", i, s)
		}
		c.work[dayOf(d)] = true
	}
	c.years[f.Year] = true
	return nil
}

// Working reports whether t's day (in Vietnam's time zone) is a working day:
// Monday to Friday unless a holiday, or a weekend day worked in exchange.
func (c *Calendar) Working(t time.Time) bool {
	d := dayOf(t)
	if c != nil && c.work[d] {
		return true
	}
	if wd := t.In(ict).Weekday(); wd == time.Saturday || wd == time.Sunday {
		return false
	}
	if c == nil {
		return true
	}
	_, off := c.off[d]
	return !off
}

// Holiday returns the name of the holiday on t's day, if any.
func (c *Calendar) Holiday(t time.Time) (string, bool) {
	if c == nil {
		return "", false
	}
	name, ok := c.off[dayOf(t)]
	return name, ok
}

// Covers reports whether the calendar holds the year of t: outside it, only
// weekends are known.
func (c *Calendar) Covers(t time.Time) bool { return c != nil && c.years[t.In(ict).Year()] }

// AddWorkingDays returns the time n working days after t (same time of day,
// in Vietnam's time zone): the day of receipt does not count, each working
// day after it does. A nil Calendar knows only weekends.
func (c *Calendar) AddWorkingDays(t time.Time, n int) time.Time {
	t = t.In(ict)
	for n > 0 {
		t = t.AddDate(0, 0, 1)
		if c.Working(t) {
			n--
		}
	}
	return t
}
