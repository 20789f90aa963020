"""import_movielens on small ml-100k and ml-1m directories written by the tests."""

from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError

from shop.importers.movielens import import_movielens
from shop.models import Category, Customer, Interaction, Product

pytestmark = pytest.mark.django_db

FLAGS = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy"]


def genre_flags(*genres: str) -> str:
    names = [*FLAGS, "Crime", "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
             "Romance", "Sci-Fi", "Thriller", "War", "Western"]  # fmt: skip
    return "|".join("1" if name in genres else "0" for name in names)


TOY_STORY_FLAGS = genre_flags("Animation", "Children's", "Comedy")


@pytest.fixture
def ml100k(tmp_path):
    directory = tmp_path / "ml-100k"
    directory.mkdir()
    (directory / "u.user").write_text(
        "1|24|M|technician|85711\n2|53|F|other|94043\n3|x|M|writer|32067\n"  # line 3: bad age
    )
    (directory / "u.item").write_bytes(
        (
            f"1|Toy Story (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?Toy%20Story%20(1995)|"
            f"{TOY_STORY_FLAGS}\n"
            f"2|GoldenEye (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?GoldenEye%20(1995)|"
            f"{genre_flags('Action', 'Adventure')}\n"
            f"3|Café Society (1995)|01-Jan-1995|||{genre_flags('Comedy')}\n"
        ).encode("latin-1")
    )
    (directory / "u.data").write_text(
        "1\t1\t5\t874965758\n"
        "1\t2\t3\t876893171\n"
        "2\t1\t4\t888550871\n"
        "2\t3\t2\t888550871\n"
        "1\t1\t5\t874965758\n"  # line 5: exact duplicate of line 1
        "9\t1\t4\t888550871\n"  # line 6: unknown user
        "2\t99\t4\t888550871\n"  # line 7: unknown movie
        "2\t2\t7\t888550871\n"  # line 8: rating out of range
        "2\t2\n"  # line 9: missing fields
        "3\t1\t4\t888550871\n"  # line 10: the user's line was malformed
    )
    return directory


@pytest.fixture
def ml1m(tmp_path):
    directory = tmp_path / "ml-1m"
    directory.mkdir()
    (directory / "users.dat").write_text("1::F::1::10::48067\n2::M::56::16::70072\n")
    (directory / "movies.dat").write_bytes(
        "1::Toy Story (1995)::Animation|Children's|Comedy\n2::Jumanji (1995)::Adventure|Children's|Fantasy\n".encode(
            "latin-1"
        )
    )
    (directory / "ratings.dat").write_text("1::1::5::978300760\n1::2::3::978302109\n2::1::4::978301968\n")
    return directory


def test_ml100k_users_movies_and_ratings(ml100k):
    report = import_movielens(directory=ml100k)

    assert Customer.objects.count() == 2
    assert Product.objects.count() == 3
    assert Interaction.objects.count() == 4
    user = Customer.objects.get(external_id="ml100k-1")
    assert (user.gender, user.postal_code) == ("m", "85711")
    assert user.birth_year == 1997 - 24  # the age in the year of the user's first rating
    assert user.attributes == {"movielens_id": 1, "occupation": "technician", "zip": "85711", "age": 24}
    rating = Interaction.objects.get(customer=user, product__sku="ml100k-1")
    assert (rating.kind, rating.value, rating.occurred_at) == ("rating", 5.0, datetime.fromtimestamp(874965758, UTC))
    assert Product.objects.get(sku="ml100k-3").name == "Café Society (1995)"  # latin-1
    assert report.accounted


def test_genres_become_categories_with_a_primary_one_per_movie(ml100k):
    import_movielens(directory=ml100k)

    toy_story = Product.objects.select_related("category__parent").get(sku="ml100k-1")
    assert toy_story.attributes["genres"] == ["Animation", "Children's", "Comedy"]
    assert toy_story.attributes["year"] == 1995
    # Comedy is shared by two of the movies, Animation and Children's by one: the first of those is the most specific.
    assert toy_story.category.name == "Animation"
    assert toy_story.category.parent.code == "movies"
    assert set(Category.objects.filter(parent__code="movies").values_list("name", flat=True)) == {
        "Action", "Adventure", "Animation", "Children's", "Comedy",
    }  # fmt: skip


def test_bad_lines_are_reported_with_file_and_line(ml100k):
    report = import_movielens(directory=ml100k)

    assert report.skipped_lines == {
        "u.user: bad_age": [3],
        "u.data: duplicate": [5],
        "u.data: unknown_user": [6, 10],
        "u.data: unknown_movie": [7],
        "u.data: rating_out_of_range": [8],
        "u.data: wrong_number_of_fields": [9],
    }
    assert report.rows_read == 3 + 3 + 10
    assert report.imported == 2 + 3 + 4
    assert report.accounted


def test_reimporting_adds_nothing(ml100k):
    import_movielens(directory=ml100k)

    again = import_movielens(directory=ml100k)

    assert again.imported == 0
    assert again.skipped["u.data: already_imported"] == 4
    assert again.skipped["u.user: unchanged"] == 2
    assert again.skipped["u.item: unchanged"] == 3
    assert Interaction.objects.count() == 4
    assert Customer.objects.count() == 2


def test_ml1m_layout_with_age_groups_and_occupation_codes(ml1m):
    report = import_movielens(directory=ml1m)

    assert report.details["layout"] == "ml-1m"
    assert Interaction.objects.count() == 3
    young = Customer.objects.get(external_id="ml1m-1")
    assert young.attributes["age_group"] == "Under 18"
    assert young.attributes["occupation"] == "K-12 student"
    assert young.birth_year == 2000 - 16
    jumanji = Product.objects.get(sku="ml1m-2")
    assert jumanji.attributes["genres"] == ["Adventure", "Children's", "Fantasy"]
    assert report.accounted


def test_a_directory_that_is_not_movielens_fails_naming_the_missing_files(tmp_path):
    (tmp_path / "u.data").write_text("1\t1\t5\t874965758\n")

    with pytest.raises(ValidationError) as error:
        import_movielens(directory=tmp_path)

    assert "u.item" in str(error.value) and "u.user" in str(error.value)


def test_a_file_in_the_wrong_format_fails_at_once(ml100k):
    (ml100k / "u.data").write_text("user,item,rating,timestamp\n1,1,5,874965758\n")

    with pytest.raises(ValidationError) as error:
        import_movielens(directory=ml100k)

    assert "u.data" in str(error.value)
    assert not Customer.objects.exists()
