// Command certamen-voters: voters that open a new connection for every vote, as the
// original contest's Go client did, at a steady offered rate.
//
// It is load/newconn.py's generator in Go, for the burst benchmark (load/bench_burst.py):
// Python's grpcio spends more CPU setting up a channel than the producer spends serving
// it, CPU the pipeline on the same machine then lacks. Same weight per vote as
// newconn.py:
//
//   - grpc: a new client connection (own TCP connection, HTTP/2 handshake) per vote, one
//     confproto.getInfo/returnInfo call with its idempotency-key metadata, then closed;
//   - http: a new TCP connection per vote, POST /votes with Connection: close.
//
// Open loop: vote n is started at start + n/rate whatever the answers, as long as fewer
// than -in-flight votes wait for theirs. Every vote is one JSON line in the ledger with
// the raw facts of its answer (status, trailers or response, whether the request was
// sent); newconn.py classifies them, so the outcome classes exist in one place.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
)

const returnInfo = "/confproto.getInfo/returnInfo"

// Ballot is one vote's fields, as the ballots file holds them.
type Ballot struct {
	Name  string `json:"name"`
	Album string `json:"album"`
	Year  string `json:"year"`
	Rank  string `json:"rank"`
}

// Record is one line of the ledger: which vote, when, and what came back.
type Record struct {
	Key     string  `json:"key"`
	Route   string  `json:"route"`
	Ballot  int     `json:"ballot"`  // index into the ballots file
	Started float64 `json:"started"` // Unix seconds
	Seconds float64 `json:"seconds"` // from start to answer, connection included
	Sent    bool    `json:"sent"`    // the request left this process (else: never sent)
	Error   string  `json:"error,omitempty"`
	// grpc: the status code (numeric), its message and the trailing metadata
	Code     *int              `json:"code,omitempty"`
	Details  string            `json:"details,omitempty"`
	Trailers map[string]string `json:"trailers,omitempty"`
	// http: the whole response as received
	Response string `json:"response,omitempty"`
	VoteID   string `json:"vote_id,omitempty"`
}

type config struct {
	route, target, runID, ballotsPath, ledgerPath string
	seconds, rate, deadline, httpTimeout          float64
	votes, inFlight                               int
	pooled                                        bool
}

func main() {
	var c config
	flag.StringVar(&c.route, "route", "grpc", "grpc or http")
	flag.StringVar(&c.target, "target", "", "host:port of the producer")
	flag.StringVar(&c.runID, "run-id", "", "prefix of every vote's idempotency key")
	flag.StringVar(&c.ballotsPath, "ballots", "", "JSON array of ballots (name, album, year, rank), cycled through")
	flag.StringVar(&c.ledgerPath, "ledger", "-", "where the JSON lines go (- for stdout)")
	flag.Float64Var(&c.seconds, "seconds", 10, "how long new votes are started")
	flag.Float64Var(&c.rate, "rate", 0, "votes/s offered (0: as fast as -in-flight allows)")
	flag.IntVar(&c.votes, "votes", 0, "stop after this many votes (0: when -seconds end)")
	flag.IntVar(&c.inFlight, "in-flight", 2000, "votes waiting for their answer at once, at most")
	flag.Float64Var(&c.deadline, "deadline", 0, "gRPC deadline in seconds (0: none, as the original client)")
	flag.Float64Var(&c.httpTimeout, "http-timeout", 30, "seconds an HTTP vote waits for its answer")
	flag.BoolVar(&c.pooled, "pooled", false, "one gRPC connection / kept-alive HTTP connections instead of one per vote")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "certamen-voters:", err)
		os.Exit(2)
	}
}

func run(c config) error {
	if c.route != "grpc" && c.route != "http" {
		return fmt.Errorf("-route must be grpc or http, not %q", c.route)
	}
	if c.target == "" || c.runID == "" || c.ballotsPath == "" {
		return fmt.Errorf("-target, -run-id and -ballots are required")
	}
	if c.inFlight < 1 {
		return fmt.Errorf("-in-flight must be at least 1")
	}
	ballots, err := readBallots(c.ballotsPath)
	if err != nil {
		return err
	}
	out := os.Stdout
	if c.ledgerPath != "-" {
		if out, err = os.Create(c.ledgerPath); err != nil {
			return err
		}
		defer out.Close()
	}
	var vote voter
	if c.route == "grpc" {
		vote, err = newGrpcVoter(c, ballots)
	} else {
		vote = newHTTPVoter(c, ballots)
	}
	if err != nil {
		return err
	}
	defer vote.close()
	return burst(c, len(ballots), vote, out)
}

func readBallots(path string) ([]Ballot, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var ballots []Ballot
	if err := json.Unmarshal(data, &ballots); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(ballots) == 0 {
		return nil, fmt.Errorf("%s: no ballot", path)
	}
	return ballots, nil
}

type voter interface {
	// send casts one vote and fills in the answer's fields of rec.
	send(rec *Record)
	close()
}

// burst offers the votes at the rate, then waits for every answer; one writer owns the ledger.
func burst(c config, ballots int, vote voter, out io.Writer) error {
	records := make(chan *Record, c.inFlight)
	written := make(chan error, 1)
	go func() {
		w := bufio.NewWriterSize(out, 1<<20)
		enc := json.NewEncoder(w)
		var err error
		for rec := range records {
			if err == nil {
				err = enc.Encode(rec)
			}
		}
		if err == nil {
			err = w.Flush()
		}
		written <- err
	}()

	slots := make(chan struct{}, c.inFlight)
	var wg sync.WaitGroup
	var inFlight, peak atomic.Int64
	var lateMax time.Duration // how far behind its schedule a vote was started, at most
	begin := time.Now()
	end := begin.Add(time.Duration(c.seconds * float64(time.Second)))
	var interval time.Duration
	if c.rate > 0 {
		interval = time.Duration(float64(time.Second) / c.rate)
	}
	for n := 0; c.votes == 0 || n < c.votes; n++ {
		if interval > 0 {
			due := begin.Add(time.Duration(n) * interval)
			if wait := time.Until(due); wait > 0 {
				time.Sleep(wait)
			} else {
				lateMax = max(lateMax, -wait)
			}
		}
		if !time.Now().Before(end) {
			break
		}
		slots <- struct{}{}
		rec := &Record{
			Key:    fmt.Sprintf("%s.%s0.%d", c.runID, c.route, n),
			Route:  c.route,
			Ballot: n % ballots,
		}
		wg.Add(1)
		if now := inFlight.Add(1); now > peak.Load() {
			peak.Store(now)
		}
		go func() {
			defer wg.Done()
			defer inFlight.Add(-1)
			started := time.Now()
			vote.send(rec)
			rec.Started = float64(started.UnixNano()) / 1e9
			rec.Seconds = time.Since(started).Seconds()
			<-slots
			records <- rec
		}()
	}
	wg.Wait()
	close(records)
	fmt.Fprintf(os.Stderr, "certamen-voters: %s, at most %d votes in flight (cap %d), "+
		"a vote started at most %.0f ms behind its schedule\n",
		c.route, peak.Load(), c.inFlight, lateMax.Seconds()*1000)
	return <-written
}

// --- gRPC ------------------------------------------------------------------------------

type grpcVoter struct {
	target   string
	ballots  []*RequestId
	deadline time.Duration
	shared   *grpc.ClientConn // pooled only
}

func newGrpcVoter(c config, ballots []Ballot) (*grpcVoter, error) {
	v := &grpcVoter{target: "passthrough:///" + c.target, deadline: time.Duration(c.deadline * float64(time.Second))}
	for _, b := range ballots {
		v.ballots = append(v.ballots, &RequestId{Name: b.Name, Album: b.Album, Year: b.Year, Rank: b.Rank})
	}
	if c.pooled {
		conn, err := v.dial()
		if err != nil {
			return nil, err
		}
		v.shared = conn
	}
	return v, nil
}

func (v *grpcVoter) dial() (*grpc.ClientConn, error) {
	return grpc.NewClient(v.target,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(sentFlag{}))
}

func (v *grpcVoter) close() {
	if v.shared != nil {
		v.shared.Close()
	}
}

func (v *grpcVoter) send(rec *Record) {
	ctx := context.Background()
	if v.deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, v.deadline)
		defer cancel()
	}
	sent := new(atomic.Bool)
	ctx = context.WithValue(ctx, sentKey{}, sent)
	ctx = metadata.AppendToOutgoingContext(ctx, "idempotency-key", rec.Key)
	conn := v.shared
	if conn == nil {
		var err error
		if conn, err = v.dial(); err != nil {
			rec.Error = "connect: " + err.Error()
			return
		}
		defer conn.Close()
	}
	var trailer metadata.MD
	reply := new(ReplyInfo)
	err := conn.Invoke(ctx, returnInfo, v.ballots[rec.Ballot], reply, grpc.Trailer(&trailer))
	rec.Sent = sent.Load()
	st := status.Convert(err)
	code := int(st.Code())
	rec.Code = &code
	rec.Details = st.Message()
	if len(trailer) > 0 {
		rec.Trailers = make(map[string]string, len(trailer))
		for name, values := range trailer {
			rec.Trailers[name] = strings.Join(values, ",")
		}
	}
	if id := trailer.Get("certamen-vote-id"); len(id) > 0 {
		rec.VoteID = id[0]
	} else if _, id, found := strings.Cut(reply.GetInfo(), "vote_id "); found && err == nil {
		rec.VoteID = id
	}
}

// sentFlag marks a call's flag once its request message went out on the connection.
type sentFlag struct{}

type sentKey struct{}

func (sentFlag) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (sentFlag) HandleRPC(ctx context.Context, s stats.RPCStats) {
	if _, ok := s.(*stats.OutPayload); ok {
		if flag, ok := ctx.Value(sentKey{}).(*atomic.Bool); ok {
			flag.Store(true)
		}
	}
}
func (sentFlag) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (sentFlag) HandleConn(context.Context, stats.ConnStats)                       {}

// --- HTTP ------------------------------------------------------------------------------

type httpVoter struct {
	target  string
	bodies  [][]byte
	head    string
	timeout time.Duration
	pooled  bool
	idle    chan net.Conn
}

func newHTTPVoter(c config, ballots []Ballot) *httpVoter {
	v := &httpVoter{
		target:  c.target,
		timeout: time.Duration(c.httpTimeout * float64(time.Second)),
		pooled:  c.pooled,
		idle:    make(chan net.Conn, c.inFlight),
		head:    "POST /votes HTTP/1.1\r\nHost: " + c.target + "\r\nContent-Type: application/json\r\n",
	}
	if !c.pooled {
		v.head += "Connection: close\r\n"
	}
	for _, b := range ballots {
		body, _ := json.Marshal(b)
		v.bodies = append(v.bodies, body)
	}
	return v
}

func (v *httpVoter) close() {
	for {
		select {
		case conn := <-v.idle:
			conn.Close()
		default:
			return
		}
	}
}

func (v *httpVoter) send(rec *Record) {
	body := v.bodies[rec.Ballot]
	request := fmt.Sprintf("%sIdempotency-Key: %s\r\nContent-Length: %d\r\n\r\n%s", v.head, rec.Key, len(body), body)
	var conn net.Conn
	select {
	case conn = <-v.idle:
	default:
		var err error
		if conn, err = net.DialTimeout("tcp", v.target, v.timeout); err != nil {
			rec.Error = "connect: " + err.Error()
			return
		}
	}
	kept := false
	defer func() {
		if !kept {
			conn.Close()
		}
	}()
	rec.Sent = true
	conn.SetDeadline(time.Now().Add(v.timeout))
	if _, err := io.WriteString(conn, request); err != nil {
		rec.Error = "after sending: " + err.Error()
		return
	}
	var response []byte
	var err error
	if v.pooled {
		response, err = readResponse(bufio.NewReader(conn))
	} else {
		response, err = io.ReadAll(conn)
	}
	if err != nil {
		rec.Error = "after sending: " + err.Error()
		return
	}
	rec.Response = string(response)
	if _, payload, found := strings.Cut(rec.Response, "\r\n\r\n"); found {
		var answer struct {
			VoteID string `json:"vote_id"`
		}
		if json.Unmarshal([]byte(payload), &answer) == nil {
			rec.VoteID = answer.VoteID
		}
	}
	if v.pooled {
		conn.SetDeadline(time.Time{})
		select {
		case v.idle <- conn:
			kept = true
		default:
		}
	}
}

// readResponse reads one response with a Content-Length (the producer always sends one).
func readResponse(r *bufio.Reader) ([]byte, error) {
	var head strings.Builder
	length := 0
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		head.WriteString(line)
		if line == "\r\n" {
			break
		}
		name, value, _ := strings.Cut(line, ":")
		if strings.EqualFold(strings.TrimSpace(name), "content-length") {
			fmt.Sscan(strings.TrimSpace(value), &length)
		}
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	return append([]byte(head.String()), body...), nil
}
