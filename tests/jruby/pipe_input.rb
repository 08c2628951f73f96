# What Logstash's `pipe` input does with a command, on the runtime Logstash runs it on (JRuby),
# driven by tests/logstash_jruby.rs. Written for this project, after
# logstash-plugins/logstash-input-pipe 3.1.0, lib/logstash/inputs/pipe.rb (main at 55fcf49):
#   L54    pipe = @pipe = IO.popen(@command, "r")
#   L56-57 pipe.each do |line| line = line.chomp ... queue << event
#   L67    pipe.close          (after EOF)
#   L69    rescue Exception => e   (logged; `run` goes on to its restart sleep)
#   L80-87 stop: Process.kill("KILL", pipe.pid) rescue nil; pipe.close rescue nil
# `run` (L51-78) returns once `pipe.each` has ended and stop? is true, so the reader thread
# below ending is `run` returning.
#
# Usage: jruby pipe_input.rb PARAMS.json. Prints one JSON object per line on stdout, one per
# scenario (see the Rust test for the params and what is asserted).
require 'json'

$stdout.sync = true
PARAMS = JSON.parse(File.read(ARGV.fetch(0)))
GIVE_UP = PARAMS.fetch('give_up_s')
# A listening socket and a file of the JVM: no collector may hold them (nor any other JVM
# descriptor).
require 'socket'
LISTENER = TCPServer.new('127.0.0.1', 0)
JVM_FILE = File.open(ARGV.fetch(0))

def now
  Process.clock_gettime(Process::CLOCK_MONOTONIC)
end

def ms(t)
  t && ((t * 1000).round)
end

def proc_stat(pid)
  s = File.read("/proc/#{pid}/stat")
  rest = s[(s.rindex(')') + 2)..-1].split(' ')
  { state: rest[0], ppid: rest[1].to_i, comm: s[(s.index('(') + 1)...s.rindex(')')] }
rescue StandardError
  nil
end

def alive?(pid)
  st = proc_stat(pid)
  !st.nil? && st[:state] != 'Z' && st[:state] != 'X'
end

def wait_until(limit)
  t0 = now
  until yield
    return false if now - t0 > limit
    sleep 0.005
  end
  true
end

# The targets of a process's descriptors above 2 (anonymous inodes, which every process has
# its own of, left out).
def fd_targets(pid)
  Dir.children("/proc/#{pid}/fd").map(&:to_i).select { |fd| fd > 2 }.map do |fd|
    File.readlink("/proc/#{pid}/fd/#{fd}") rescue nil
  end.compact.reject { |t| t.start_with?('anon_inode:') }
end

# The collector of a session: the popen'd pid itself (plain, or sh after `exec`), or the
# shell's child (sh -c without exec: dash forks it).
def collector_of(pid)
  found = nil
  wait_until(20) do
    st = proc_stat(pid)
    if st && st[:comm] == 'slack-audit'
      found = pid
    else
      kid = Dir.children('/proc').grep(/\A\d+\z/).map(&:to_i).find do |p|
        k = proc_stat(p)
        k && k[:ppid] == pid && k[:comm] == 'slack-audit'
      end
      found = kid
    end
    !found.nil?
  end
  found
end

# One popen of a command and the thread running `pipe.each` on it.
class Session
  attr_reader :pipe, :pid, :thread, :error, :ended_at

  def initialize(command, env, sink)
    env.each { |k, v| ENV[k] = v }
    @pipe = IO.popen(command, 'r') # L54
    @pid = @pipe.pid # IO#pid raises once the IO is closed
    @ended_at = nil
    @thread = Thread.new do
      begin
        @pipe.each do |line| # L56
          line = line.chomp # L57
          sink.call(line) # L60-64: decode, queue << event
        end
        @pipe.close # L67
      rescue Exception => e # L69
        @error = "#{e.class}: #{e.message}"
      end
      @ended_at = now
    end
  end

  # L80-87
  def stop
    Process.kill('KILL', @pid) rescue nil
    @pipe.close rescue nil
  end
end

# The state lock files' inodes that some process holds with flock(2), from /proc/locks (JRuby's
# File#flock is not flock(2), so the kernel's table is read instead).
def locked(inodes)
  File.readlines('/proc/locks').map(&:split).select { |f| f.include?('FLOCK') }.map do |f|
    dev = f.find { |x| x =~ /\A\h+:\h+:\d+\z/ }
    dev && dev.split(':').last.to_i
  end.compact & inodes
end

# Stops `s` and measures how long until its collector is gone, its reader thread returned and
# the state lock is free (given up on after GIVE_UP seconds: the time is then null, and the
# collector is killed here so that the run goes on).
def stop_and_measure(s, collector, state_dir)
  jvm = fd_targets(Process.pid)
  inherited = alive?(collector) ? (fd_targets(collector) & jvm) : []
  stdout = (File.readlink("/proc/#{collector}/fd/1") rescue nil)
  inodes = Dir.glob(File.join(state_dir, '*.lock')).map { |f| File.stat(f).ino }
  t0 = now
  s.stop
  close_ms = ms(now - t0)
  gone = reader = lock = nil
  wait_until(GIVE_UP) do
    t = ms(now - t0)
    gone ||= t unless alive?(collector)
    reader ||= ms(s.ended_at - t0) unless s.thread.alive?
    lock ||= t if locked(inodes).empty?
    gone && reader && lock
  end
  if gone.nil?
    Process.kill('KILL', collector) rescue nil
    wait_until(10) { !alive?(collector) }
  end
  s.thread.join(10)
  { 'collector' => collector, 'close_ms' => close_ms, 'gone_ms' => gone, 'reader_ms' => reader,
    'lock_free_ms' => lock, 'lock_files' => inodes.size, 'reader_error' => s.error,
    'jvm_fds_in_collector' => inherited, 'own_stdout_inherited' => inherited.include?(stdout) }
end

def emit(h)
  puts JSON.generate(h)
end

# 1. Stops while idle: the collector drained its stream and sleeps through `interval`.
PARAMS.fetch('idle').each do |sc|
  count = 0
  lock = Mutex.new
  s = Session.new(sc.fetch('command'), sc.fetch('env'), ->(_line) { lock.synchronize { count += 1 } })
  collector = collector_of(s.pid)
  drained = wait_until(60) { lock.synchronize { count } >= sc.fetch('events') }
  sleep sc.fetch('idle_s')
  r = stop_and_measure(s, collector, sc.fetch('env').fetch('SLACK_AUDIT_STATE_DIR'))
  emit(r.merge('scenario' => 'idle', 'form' => sc.fetch('form'), 'lines' => count, 'drained' => drained,
               'popen_pid' => s.pid))
end

# 2. A backfill stopped at seeded moments, restarted each time, then drained to the end.
bf = PARAMS.fetch('backfill')
out = File.open(bf.fetch('lines_file'), 'w')
total = 0
ids = {}
lock = Mutex.new
slow = false
sink = lambda do |line|
  n = lock.synchronize do
    out.puts(line)
    total += 1
    id = (JSON.parse(line)['id'] rescue nil)
    ids[id] = true if id
    total
  end
  # A pipeline slower than the collector (`queue << event` blocks), so the pipe is full
  # when a stop comes.
  sleep bf.fetch('slow_s') if slow && (n % 16).zero?
end
bf.fetch('stops').each_with_index do |st, i|
  slow = i.positive?
  s = Session.new(st.fetch('command'), bf.fetch('env'), sink)
  collector = collector_of(s.pid)
  reached = wait_until(120) { lock.synchronize { total } >= st.fetch('at') }
  r = stop_and_measure(s, collector, bf.fetch('env').fetch('SLACK_AUDIT_STATE_DIR'))
  emit(r.merge('scenario' => 'stop', 'form' => st.fetch('form'), 'at' => st.fetch('at'), 'reached' => reached,
               'lines' => lock.synchronize { total }))
  sleep bf.fetch('restart_s')
end
slow = false
s = Session.new(bf.fetch('final_command'), bf.fetch('env'), sink)
collector = collector_of(s.pid)
seen = -1
since = now
wait_until(180) do
  n = lock.synchronize { total }
  (seen, since) = [n, now] if n != seen
  now - since > bf.fetch('quiet_s') || lock.synchronize { ids.size } >= bf.fetch('expected')
end
sleep 0.3
r = stop_and_measure(s, collector, bf.fetch('env').fetch('SLACK_AUDIT_STATE_DIR'))
lock.synchronize { out.close }
emit(r.merge('scenario' => 'final', 'lines' => total, 'distinct' => ids.size))
LISTENER.close
JVM_FILE.close
emit('scenario' => 'done')
