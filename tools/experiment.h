// Pieces of `slm experiment` (tools/experiment.cpp) that tests check directly.
#pragma once
#include <string>
#include <vector>

namespace slm::cli::experiment {

struct Point {
    std::string label;
    double x, y;
};

// The points no other point beats on both axes (higher x and higher y are better), sorted by x ascending:
// the Pareto front of accuracy against speed.
std::vector<Point> pareto_front(std::vector<Point> pts);

}  // namespace slm::cli::experiment
