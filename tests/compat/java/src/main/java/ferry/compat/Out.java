package ferry.compat;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import java.util.LinkedHashMap;
import java.util.Map;

/** One JSON object per line on stdout: what a scenario saw, for the Python test to check. */
final class Out {
    private static final Gson GSON = new GsonBuilder().serializeNulls().create();

    private Out() {}

    static Map<String, Object> map() {
        return new LinkedHashMap<>();
    }

    static synchronized void line(Map<String, Object> values) {
        System.out.println(GSON.toJson(values));
        System.out.flush();
    }

    static String env(String name) {
        String v = System.getenv(name);
        if (v == null || v.isEmpty()) {
            throw new IllegalArgumentException("missing environment variable " + name);
        }
        return v;
    }
}
