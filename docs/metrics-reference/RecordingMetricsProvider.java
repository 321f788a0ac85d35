// A ZooKeeper MetricsProvider that records every metric the server registers, with its
// kind, so that Apache itself tells which names and types its Prometheus provider exports.
// It is a tool for regenerating apache-3.8.txt (see record.sh), not part of ringkeeper.
//
// Each registration appends "<name> <kind>" to the file named by the provider property
// `out` (metricsProvider.out=...). The kind is the Prometheus type Apache's
// PrometheusMetricsProvider (3.8, simpleclient 0.9) gives it, plus the label and quantiles:
//   counter, counter[key], gauge, gauge[key], summary(0.5), summary(0.5,0.9,0.99),
//   and the same summaries with [key] for summary sets.
import java.io.FileWriter;
import java.io.IOException;
import java.util.Properties;
import java.util.function.BiConsumer;
import org.apache.zookeeper.metrics.Counter;
import org.apache.zookeeper.metrics.CounterSet;
import org.apache.zookeeper.metrics.Gauge;
import org.apache.zookeeper.metrics.GaugeSet;
import org.apache.zookeeper.metrics.MetricsContext;
import org.apache.zookeeper.metrics.MetricsProvider;
import org.apache.zookeeper.metrics.Summary;
import org.apache.zookeeper.metrics.SummarySet;

public class RecordingMetricsProvider implements MetricsProvider, MetricsContext {
    private String out = "metrics-recorded.txt";

    private synchronized void record(String name, String kind) {
        try (FileWriter w = new FileWriter(out, true)) {
            w.write(name + " " + kind + "\n");
        } catch (IOException e) {
            throw new RuntimeException(e);
        }
    }

    private static String quantiles(DetailLevel level) {
        return level == DetailLevel.ADVANCED ? "summary(0.5,0.9,0.99)" : "summary(0.5)";
    }

    public void configure(Properties p) { out = p.getProperty("out", out); }
    public void start() {}
    public MetricsContext getRootContext() { return this; }
    public void stop() {}
    public void dump(BiConsumer<String, Object> sink) {}
    public void resetAllValues() {}

    public MetricsContext getContext(String name) { return this; }
    public Counter getCounter(String name) {
        record(name, "counter");
        return new Counter() {
            public void add(long d) {}
            public long get() { return 0; }
        };
    }
    public CounterSet getCounterSet(String name) {
        record(name, "counter[key]");
        return (k, d) -> {};
    }
    public void registerGauge(String name, Gauge g) { record(name, "gauge"); }
    public void unregisterGauge(String name) {}
    public void registerGaugeSet(String name, GaugeSet g) { record(name, "gauge[key]"); }
    public void unregisterGaugeSet(String name) {}
    public Summary getSummary(String name, DetailLevel level) {
        record(name, quantiles(level));
        return v -> {};
    }
    public SummarySet getSummarySet(String name, DetailLevel level) {
        record(name, quantiles(level) + "[key]");
        return (k, v) -> {};
    }
}
