// Uses the installed library as the README shows: load a Toto checkpoint through the registry,
// forecast a series, print the mean. Usage: consumer MODEL_DIR
#include <fcast/forecast.h>

#include <cmath>
#include <iostream>

#include "models/registry.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: consumer MODEL_DIR\n";
    return 2;
  }
  try {
    const fcast::ModelEntry& e = fcast::find_model("toto");
    fcast::CompileSettings eager;
    eager.enabled = false;
    auto model = e.load({{"model", argv[1]}}, eager);
    auto session = model->new_session();
    fcast::ForecastRequest req;
    fcast::SeriesInput s;
    s.id = "demo";
    s.variate_names = {"close"};
    s.values.emplace_back();
    for (int t = 0; t < 64; ++t) s.values[0].push_back(100.0 + std::sin(t * 0.3));
    req.series.push_back(s);
    req.horizon = 4;
    const fcast::ForecastResult r = session->forecast(req);
    for (float m : r.series.at(0).mean.at(0)) {
      if (!std::isfinite(m)) return 1;
      std::cout << m << "\n";
    }
    return 0;
  } catch (const std::exception& ex) {
    std::cerr << "consumer: " << ex.what() << "\n";
    return 1;
  }
}
